/**
 * GraphQL query cost limit, beside Mercurius' depth limit: a validation rule that counts the
 * fields an operation selects, fragments expanded where they are spread. A field under a list
 * counts LIST_FACTOR times for each list above it (a list has no size yet at validation; ours
 * have no pagination arguments, so a nested list multiplies the work). Introspection fields
 * (`__schema`, `__type`, `__typename`) cost nothing: their answer is bounded by the schema, and
 * the standard introspection query is always answered (api.md "GraphQL").
 *
 * An operation over the limit is refused before execution: 400 with errno E2BIG, its `cost` and
 * the `limit` in the error's extensions. Mercurius caches a document's validation, so a
 * repeated query is counted once.
 */
import { GraphQLError, Kind, type FragmentDefinitionNode, type GraphQLField, type GraphQLNamedType, type GraphQLType, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

/** How many items a list field is assumed to hold. */
export const LIST_FACTOR = 10;

// The schema's types come from Mercurius' copy of graphql (CommonJS) while this module may load
// the ESM build (vitest does): graphql's isListType & co. refuse types of "another realm", so
// types are told apart by their tag and shape here.
const tag = (t: unknown): string => Object.prototype.toString.call(t);
/** A field's type without its non-null wrapper is a list. */
export const returnsList = (t: GraphQLType): boolean => tag(t) === '[object GraphQLList]' || (tag(t) === '[object GraphQLNonNull]' && tag((t as { ofType: unknown }).ofType) === '[object GraphQLList]');
/** The named type under every wrapper. */
export function namedType(t: GraphQLType): GraphQLNamedType {
  let x = t as { ofType?: unknown };
  while (x.ofType) x = x.ofType as { ofType?: unknown };
  return x as GraphQLNamedType;
}
const fieldsOf = (t: GraphQLNamedType | undefined): Record<string, GraphQLField<unknown, unknown>> | undefined =>
  t && (tag(t) === '[object GraphQLObjectType]' || tag(t) === '[object GraphQLInterfaceType]') ? (t as unknown as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields() : undefined;

/** The cost of `selectionSet` on `parent`, once (the caller multiplies). */
function selectionCost(
  ctx: ValidationContext,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  memo: Map<string, number>,
  visiting: Set<string>,
  selectionSet: SelectionSetNode,
  parent: GraphQLNamedType | undefined,
): number {
  let cost = 0;
  for (const sel of selectionSet.selections) {
    if (sel.kind === Kind.FIELD) {
      if (sel.name.value.startsWith('__')) continue;
      cost += 1;
      if (!sel.selectionSet) continue;
      const def = fieldsOf(parent)?.[sel.name.value];
      const factor = def && returnsList(def.type) ? LIST_FACTOR : 1;
      cost += factor * selectionCost(ctx, fragments, memo, visiting, sel.selectionSet, def ? namedType(def.type) : undefined);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const on = sel.typeCondition ? ctx.getSchema().getType(sel.typeCondition.name.value) : parent;
      cost += selectionCost(ctx, fragments, memo, visiting, sel.selectionSet, on ?? undefined);
    } else {
      const name = sel.name.value;
      const known = memo.get(name);
      if (known !== undefined) {
        cost += known;
        continue;
      }
      const fragment = fragments.get(name);
      // Unknown fragments and cycles are other rules' errors (KnownFragmentNames, NoFragmentCycles).
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      const c = selectionCost(ctx, fragments, memo, visiting, fragment.selectionSet, ctx.getSchema().getType(fragment.typeCondition.name.value) ?? undefined);
      visiting.delete(name);
      memo.set(name, c);
      cost += c;
    }
  }
  return cost;
}

/** The rule: each operation of the document costs at most `maxCost`. */
export function costLimit(maxCost: number): ValidationRule {
  return (ctx: ValidationContext) => {
    const doc = ctx.getDocument();
    const fragments = new Map(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    const memo = new Map<string, number>();
    return {
      OperationDefinition(node) {
        const root = ctx.getSchema().getRootType(node.operation);
        const cost = selectionCost(ctx, fragments, memo, new Set(), node.selectionSet, root ?? undefined);
        if (cost > maxCost) {
          ctx.reportError(
            new GraphQLError(`query cost ${cost} exceeds the limit of ${maxCost} (each field counts 1, times ${LIST_FACTOR} under each list)`, {
              nodes: [node],
              extensions: { errno: 'E2BIG', status: 400, cost, limit: maxCost },
            }),
          );
        }
      },
    };
  };
}
