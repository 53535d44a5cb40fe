/**
 * Why imagegate refuses fields that are valid Kyverno: the reasons `policy lint` prints, so that
 * nothing in a policy is silently ignored.
 */

export const NOT_YET = 'not implemented by imagegate yet';

export const UNSUPPORTED_RULE_FIELDS: Readonly<Record<string, string>> = {
  validate: 'imagegate evaluates verifyImages rules only',
  mutate: 'imagegate evaluates verifyImages rules only',
  generate: 'imagegate evaluates verifyImages rules only',
  context:
    'context entries (ConfigMap, apiCall, imageRegistry, variable) need cluster state or lookups an external webhook does not make; ' +
    NOT_YET,
  celPreconditions: 'CEL preconditions are ' + NOT_YET,
};

export const UNSUPPORTED_VERIFY_FIELDS: Readonly<Record<string, string>> = {
  validate:
    'validate (deny over the attestations of an image) is ' + NOT_YET + '; use attestations[].conditions',
};

const KMS_KEYS = 'KMS keys are ' + NOT_YET + '; put the public key PEM in publicKeys';
const SECRET_KEYS =
  'an external webhook cannot read Kubernetes Secrets; put the public key PEM in publicKeys';

export const UNSUPPORTED_KEY_FIELDS: Readonly<Record<string, string>> = {
  kms: KMS_KEYS,
  secret: SECRET_KEYS,
};

/** A PEM field holding a `{{ }}` variable. */
export const VARIABLES_IN_PEM =
  'Kyverno variables ({{ ... }}) need cluster context imagegate does not have; put the PEM itself here';

/** A `publicKeys` value that names a key held elsewhere, and why it cannot be used. */
export const KEY_REFERENCES: readonly (readonly [RegExp, string])[] = [
  [/^k8s:\/\//, SECRET_KEYS],
  [/^(?:awskms|gcpkms|azurekms|hashivault):\/\//, KMS_KEYS],
];

export const NAMESPACE_SELECTOR =
  'an external webhook cannot read Namespace labels; select namespaces with the namespaceSelector of the MutatingWebhookConfiguration instead';

export const CLUSTER_RBAC =
  'an external webhook cannot read RoleBindings; match on subjects (users, groups, service accounts) instead';
