import { createHandler } from './admit-handler';

/**
 * The Lambda entry point (`functions/admit.handler`). Built while the module loads, so that
 * configuration, clients and the runtime are made once per container, in the cold start.
 */
export const handler = createHandler(process.env);
