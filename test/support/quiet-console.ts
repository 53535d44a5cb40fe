/**
 * Jest setup: the handler's logs and EMF metrics stay off the test runner's output.
 *
 * Powertools writes to process.stdout through a console of its own unless POWERTOOLS_DEV is set,
 * when it uses the global console; this routes it there and makes the global console silent.
 * Tests that read the logs spy on console as before. IMAGEGATE_TEST_LOGS=1 keeps them visible.
 */
process.env.POWERTOOLS_DEV ??= 'true';

if (process.env.IMAGEGATE_TEST_LOGS !== '1') {
  for (const method of ['debug', 'info', 'log', 'warn', 'error', 'trace'] as const) {
    console[method] = () => undefined;
  }
}
