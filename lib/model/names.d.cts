/** Types of names.cjs (validation rules shared by lib/ and infra/). */
export declare const HOST_PORT: RegExp;
export declare const S3_BUCKET: RegExp;
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export declare const LOG_LEVELS: readonly ['DEBUG', 'INFO', 'WARN', 'ERROR'];
export declare const CLUSTER_NAME: RegExp;
export declare function isS3BucketName(name: string): boolean;
export declare function isLogLevel(level: string): level is LogLevel;
