/** `match` and `exclude`: resources, subjects and label selectors, their patterns compiled here. */
import type { Operation } from '../../model/admission';
import { compileWildcard, type WildcardMatcher } from '../../model/wildcard';
import type { FieldReader } from '../fields';
import { compileKindPattern } from '../match';
import type { LabelSelector, ResourceDescription, ResourceFilter, Subject } from '../types';
import { CLUSTER_RBAC, NAMESPACE_SELECTOR } from './unsupported';

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const SUBJECT_KINDS = ['User', 'Group', 'ServiceAccount'] as const;
const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** `match` needs kinds; `exclude` may name only subjects, namespaces, … (then any kind). */
export type FilterRole = 'match' | 'exclude';

/** `match` / `exclude`: `any`, `all`, or the legacy form (the entry's fields on the filter itself). */
export function readFilter(reader: FieldReader | undefined, role: FilterRole): ResourceFilter | undefined {
  if (!reader) return undefined;
  const any = reader.list('any').map((entry) => readFilterEntry(entry, role));
  const all = reader.list('all').map((entry) => readFilterEntry(entry, role));
  const legacy = readFilterEntryFields(reader, role);
  reader.rejectUnknown();
  if (legacy) all.push(legacy);
  if (any.length === 0 && all.length === 0) {
    reader.problem(undefined, 'must name resources (any, all or resources)');
    return undefined;
  }
  return { any: any.filter(isDefined), all: all.filter(isDefined) };
}

function readFilterEntry(reader: FieldReader, role: FilterRole): ResourceDescription | undefined {
  const entry = readFilterEntryFields(reader, role);
  reader.rejectUnknown();
  if (!entry) reader.problem(undefined, 'must name resources or subjects');
  return entry;
}

/** The fields shared by `match.any[]`, `match.all[]` and the legacy `match` itself. */
function readFilterEntryFields(reader: FieldReader, role: FilterRole): ResourceDescription | undefined {
  for (const field of ['roles', 'clusterRoles']) {
    if (reader.has(field)) reader.problem(field, `is not supported: ${CLUSTER_RBAC}`);
    reader.accept(field);
  }
  const subjects = reader.list('subjects').flatMap(readSubject);
  const resources = reader.object('resources');
  if (!resources) {
    if (subjects.length === 0) return undefined;
    if (role === 'match') {
      reader.problem('resources', 'is required (kinds to match) together with subjects');
      return undefined;
    }
    return {
      subjects,
      kinds: [],
      names: [],
      namespaces: [],
      operations: [],
      annotations: {},
      selector: undefined,
    };
  }
  const kinds = resources.stringList('kinds');
  const legacyName = resources.string('name');
  const names = [...resources.stringList('names'), ...(legacyName ? [legacyName] : [])];
  const namespaces = resources.stringList('namespaces');
  const operations = resources.stringList('operations').filter((operation, index): operation is Operation => {
    if ((OPERATIONS as readonly string[]).includes(operation)) return true;
    resources.problem('operations', `item ${index} must be one of ${OPERATIONS.join(', ')}`);
    return false;
  });
  const annotations = resources.stringMap('annotations');
  const selectorReader = resources.object('selector');
  const selector = selectorReader ? readSelector(selectorReader) : undefined;
  resources.rejectUnknown({ namespaceSelector: NAMESPACE_SELECTOR });
  if (kinds.length === 0 && role === 'match') resources.problem('kinds', 'is required');
  return {
    subjects,
    kinds: kinds.map(compileKindPattern),
    names: names.map(compileWildcard),
    namespaces: namespaces.map(compileWildcard),
    operations,
    annotations: compileValues(annotations),
    selector,
  };
}

function readSubject(reader: FieldReader): Subject[] {
  const kind = reader.string('kind', { required: true, allowed: SUBJECT_KINDS });
  const name = reader.string('name', { required: true });
  const namespace = reader.string('namespace');
  reader.accept('apiGroup');
  reader.rejectUnknown();
  if (kind === 'ServiceAccount' && !namespace)
    reader.problem('namespace', 'is required for a ServiceAccount');
  if (!kind || !name) return [];
  // A service account is matched by the user name the API server gives it.
  const pattern = kind === 'ServiceAccount' ? `system:serviceaccount:${namespace ?? ''}:${name}` : name;
  return [{ kind, name, namespace, matcher: compileWildcard(pattern) }];
}

function readSelector(reader: FieldReader): LabelSelector {
  const matchLabels = reader.stringMap('matchLabels');
  const matchExpressions = reader.list('matchExpressions').map((expression) => {
    const key = expression.string('key', { required: true }) ?? '';
    const operator = expression.string('operator', { required: true, allowed: SELECTOR_OPERATORS }) ?? 'In';
    const values = expression.stringList('values');
    expression.rejectUnknown();
    return { key, operator, values };
  });
  reader.rejectUnknown();
  return { matchLabels, matchExpressions };
}

function compileValues(patterns: Readonly<Record<string, string>>): Record<string, WildcardMatcher> {
  const compiled: Record<string, WildcardMatcher> = {};
  for (const [key, pattern] of Object.entries(patterns)) compiled[key] = compileWildcard(pattern);
  return compiled;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
