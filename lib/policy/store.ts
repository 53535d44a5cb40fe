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
