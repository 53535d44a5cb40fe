/** One policy object (file or S3 object) and the tag that changes whenever its content does. */
export interface PolicyObject {
  readonly key: string;
  readonly etag: string;
}

/**
 * Port: where policy files live. A cluster sees the shared policies plus its own
 * (`common/` and `clusters/<name>/` under the configured prefix or folder).
 */
export interface PolicyStore {
  /** Human-readable location, e.g. `s3://bucket/prefix` or `./policies`. */
  readonly location: string;
  list(cluster: string | undefined): Promise<PolicyObject[]>;
  /** The text of an object listed with this etag. */
  read(object: PolicyObject): Promise<string>;
}

const POLICY_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** True for the file names imagegate loads as policies. */
export function isPolicyFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return POLICY_EXTENSIONS.some((extension) => lower.endsWith(extension));
}

/**
 * Whether a key (relative to the store root, `/`-separated) belongs to `cluster`: everything
 * outside `clusters/`, plus `clusters/<cluster>/…`.
 */
export function belongsToCluster(relativeKey: string, cluster: string | undefined): boolean {
  if (!relativeKey.startsWith('clusters/')) return true;
  return cluster !== undefined && relativeKey.startsWith(`clusters/${cluster}/`);
}
