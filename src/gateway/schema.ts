/**
 * The gateway's schema, derived from the service's own type definitions:
 *
 *   type Query { hosts: [Host!]!  host(name: String!): Host }
 *   type Host  { name url up error  <every field of the host's Query, with its arguments, nullable> }
 *
 * and every other type of the host schema (Smmu, Viommu, IommufdObject, …) as it is. A field of
 * `Host` delegates its sub-selection to that host (fleet.ts); the types below it read the delegated
 * answer (defaultMergedResolver: aliases, abstract types). Mutations and subscriptions stay with
 * each host: the gateway is a read view.
 */
import { defaultMergedResolver } from '@graphql-tools/delegate';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { Kind, parse, type DefinitionNode, type DocumentNode, type FieldDefinitionNode, type GraphQLResolveInfo, type GraphQLSchema, type ObjectTypeDefinitionNode } from 'graphql';
import type { FleetMember } from './fleet.js';

/** The fields of `Host` that are the gateway's own; a host Query field of the same name would collide. */
const OWN_FIELDS = /* GraphQL */ `
  "One host of the fleet and, beside what the gateway knows of it, the host's own Query fields: each is delegated to the host and is null when the host gave no answer."
  type Host {
    "The host's name in FLEET_HOSTS."
    name: String!
    "The host's base URL (its GraphQL endpoint is this + /graphql)."
    url: String!
    "Whether the host answered this query: false when it could not be reached, did not answer within FLEET_TIMEOUT_MS, refused the request (401, 403, 429, 5xx) or did not answer GraphQL."
    up: Boolean!
    "What went wrong with this host in this query, each reason prefixed with the host's name ('; ' between them); null when nothing did. A host that is up may still report a field's error (an unknown id: ENOENT)."
    error: String
  }

  type Query {
    "Every host of FLEET_HOSTS, in its order, asked in parallel."
    hosts: [Host!]!
    "One host by its name; null for a name not in FLEET_HOSTS."
    host(name: String!): Host
  }
`;

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

const isRoot = (d: DefinitionNode): boolean =>
  d.kind === Kind.SCHEMA_DEFINITION || d.kind === Kind.SCHEMA_EXTENSION || ((d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) && ROOT_TYPES.has(d.name.value));

/** The host schema's Query fields, each made nullable: a host that is down yields null, not an error. */
function hostQueryFields(host: DocumentNode): FieldDefinitionNode[] {
  const fields: FieldDefinitionNode[] = [];
  for (const d of host.definitions) {
    if ((d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) && d.name.value === 'Query') {
      for (const f of d.fields ?? []) fields.push({ ...f, type: f.type.kind === Kind.NON_NULL_TYPE ? f.type.type : f.type });
    }
  }
  return fields;
}

/** The gateway's schema over the given hosts, from the host's type definitions (no host is asked). */
export function buildGatewaySchema(hostTypeDefs: string, members: readonly FleetMember[]): GraphQLSchema {
  const host = parse(hostTypeDefs);
  const own = parse(OWN_FIELDS);
  const fields = hostQueryFields(host);
  const hostType = own.definitions.find((d): d is ObjectTypeDefinitionNode => d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === 'Host')!;
  const ownNames = new Set((hostType.fields ?? []).map((f) => f.name.value));
  const clash = fields.find((f) => ownNames.has(f.name.value));
  if (clash) throw new Error(`the host schema's Query.${clash.name.value} collides with the gateway's Host.${clash.name.value}`);

  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      ...host.definitions.filter((d) => !isRoot(d)),
      ...own.definitions.map((d) => (d === hostType ? { ...hostType, fields: [...(hostType.fields ?? []), ...fields] } : d)),
    ],
  };

  type Source = { member: FleetMember };
  const byName = new Map(members.map((m) => [m.host.name, m]));
  const delegated = Object.fromEntries(
    fields.map((f) => [f.name.value, (src: Source, args: Record<string, unknown>, context: object, info: GraphQLResolveInfo) => src.member.delegate(f.name.value, args, context, info)]),
  );
  return makeExecutableSchema({
    typeDefs: document,
    // Below Host every value is (part of) a host's answer.
    defaultFieldResolver: defaultMergedResolver,
    resolvers: {
      Query: {
        // Synchronous on purpose: the Host fields' resolvers must all run in the same turn (fleet.ts `settled`).
        hosts: (): Source[] => members.map((member) => ({ member })),
        host: (_root: unknown, { name }: { name: string }): Source | null => {
          const member = byName.get(name);
          return member ? { member } : null;
        },
      },
      Host: {
        name: (src: Source) => src.member.host.name,
        url: (src: Source) => src.member.host.url,
        up: async (src: Source, _args: unknown, context: object) => (await src.member.settled(context)).up,
        error: async (src: Source, _args: unknown, context: object) => {
          const { errors } = await src.member.settled(context);
          return errors.size === 0 ? null : [...errors].join('; ');
        },
        ...delegated,
      },
    },
  });
}
