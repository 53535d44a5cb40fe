// @ts-check
'use strict';
/**
 * Validation rules for names that both the function (lib/config.ts, lib/auth/cluster-tokens.ts)
 * and the deployment (infra/stage.cjs, read by osls at package time) check. CommonJS so that osls
 * can require it without a build step; lib/ imports it through names.d.cts.
 */

/** A registry as in an image reference or a registry list: host or [IPv6], and an optional port (leading zeros allowed, as references allow them). */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::0*\d{1,5})?$/;

/** An S3 bucket name: 3–63 characters of a-z 0-9 . -, starting and ending with a letter or digit. */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The log levels imagegate takes, in increasing severity. */
const LOG_LEVELS = Object.freeze(/** @type {const} */ (['DEBUG', 'INFO', 'WARN', 'ERROR']));

/**
 * A cluster's name, as in its webhook URL (`/admit/<cluster>/<token>`), its S3 folder
 * (`clusters/<cluster>/`), its token secret and its metric dimension: a DNS label, up to 63
 * characters of a-z 0-9 -, starting and ending with a letter or digit. See docs/deploy.md for why
 * this rule and not a looser one.
 */
const CLUSTER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for a valid S3 bucket name (the pattern, and no `..`). */
function isS3BucketName(/** @type {string} */ name) {
  return S3_BUCKET.test(name) && !name.includes('..');
}

/** True for one of {@link LOG_LEVELS}. */
function isLogLevel(/** @type {string} */ level) {
  return /** @type {readonly string[]} */ (LOG_LEVELS).includes(level);
}

module.exports = { HOST_PORT, S3_BUCKET, LOG_LEVELS, CLUSTER_NAME, isS3BucketName, isLogLevel };
