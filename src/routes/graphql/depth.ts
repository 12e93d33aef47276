/**
 * GraphQL depth limit (replacing Mercurius' `queryDepth`, which counts introspection too and so
 * refused the standard introspection query, depth 15): the deepest chain of selected fields of an
 * operation, fragments expanded, must not exceed the limit. Introspection fields (`__schema`,
 * `__type`, `__typename`) are not descended into: their answer is bounded by the schema, and api.md
 * says the standard introspection query is always answered. Over the limit: 400 EINVAL, as before.
 */
import { GraphQLError, Kind, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

function depthOf(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, visiting: Set<string>): number {
  let deepest = 0;
  for (const sel of selectionSet.selections) {
    if (sel.kind === Kind.FIELD) {
      if (sel.name.value.startsWith('__')) continue;
      deepest = Math.max(deepest, 1 + (sel.selectionSet ? depthOf(sel.selectionSet, fragments, visiting) : 0));
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, depthOf(sel.selectionSet, fragments, visiting));
    } else {
      const name = sel.name.value;
      const fragment = fragments.get(name);
      // A fragment cycle is graphql's own NoFragmentCycles error; here it only must not loop.
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      deepest = Math.max(deepest, depthOf(fragment.selectionSet, fragments, visiting));
      visiting.delete(name);
    }
  }
  return deepest;
}

export function depthLimit(maxDepth: number): ValidationRule {
  return (ctx: ValidationContext) => {
    const doc = ctx.getDocument();
    const fragments = new Map(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, fragments, new Set());
        if (depth > maxDepth) {
          ctx.reportError(
            new GraphQLError(`\`${node.name?.value ?? 'anonymous'}\` query depth (${depth}) exceeds the query depth limit of ${maxDepth}`, {
              nodes: [node],
              extensions: { errno: 'EINVAL', status: 400, depth, limit: maxDepth },
            }),
          );
        }
      },
    };
  };
}
