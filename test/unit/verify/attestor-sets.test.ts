/**
 * The generic attestor-set evaluator (lib/verify/attestor-sets.ts) with a fake leaf: counts,
 * nesting, "not trusted" versus "could not check", the values passing leaves establish, and the
 * bundle-first rule. No signatures: the leaf outcome is whatever the test says.
 */
import {
  chooseEvidence,
  evaluateSet,
  evaluateSets,
  leafAttestors,
  unfetched,
  type EvidenceVerifiers,
  type LeafCheck,
} from '../../../lib/verify/attestor-sets';
import type { LeafOutcome, VerificationFailureCode } from '../../../lib/model/verification';
import type { Attestor, AttestorEvidence, AttestorSet, LeafAttestor } from '../../../lib/verify/spec';

/** A leaf attestor known by its path only: the fake leaf check looks the outcome up by path. */
const leaf = (path: string) => ({ path, kind: 'key' }) as unknown as LeafAttestor;
const nested = (set: AttestorSet): Attestor => ({ path: `${set.path}/nested`, kind: 'set', set });
const set = (entries: Attestor[], count?: number, path = 'set'): AttestorSet => ({ path, count, entries });

const pass = (value: string): LeafOutcome<string> => ({ status: 'pass', value });
const fail = (failure: VerificationFailureCode, reason = failure): LeafOutcome<string> => ({
  status: 'fail',
  failure,
  reason,
});
const down = new Error('registry down');
const error = (reason = 'could not check'): LeafOutcome<string> => ({ status: 'error', reason, cause: down });

/** A leaf check from a table of outcomes by attestor path; records the paths it was asked about. */
function fakeLeaf(outcomes: Record<string, LeafOutcome<string>>): LeafCheck<string> & { asked: string[] } {
  const asked: string[] = [];
  const check = (attestor: LeafAttestor) => {
    asked.push(attestor.path);
    const outcome = outcomes[attestor.path];
    if (!outcome) throw new Error(`no outcome for ${attestor.path}`);
    return outcome;
  };
  return Object.assign(check, { asked });
}

describe('evaluateSet: count and nesting', () => {
  test('without count every entry must pass; the failing entry names the failure', () => {
    const entries = [leaf('a'), leaf('b')];
    expect(evaluateSet(set(entries), fakeLeaf({ a: pass('A'), b: pass('B') }))).toMatchObject({
      outcome: { status: 'pass' },
      values: ['A', 'B'],
      verified: 2,
      required: 2,
    });
    const result = evaluateSet(set(entries), fakeLeaf({ a: pass('A'), b: fail('INVALID_SIGNATURE') }));
    expect(result.outcome).toMatchObject({ status: 'fail', failure: 'INVALID_SIGNATURE' });
    expect(result).toMatchObject({ values: ['A'], verified: 1, required: 2 });
  });

  test('count N of M: N are enough; fewer is COUNT_NOT_MET when some passed', () => {
    const entries = [leaf('a'), leaf('b'), leaf('c')];
    expect(
      evaluateSet(set(entries, 2), fakeLeaf({ a: fail('CHAIN'), b: pass('B'), c: pass('C') })).outcome,
    ).toEqual({ status: 'pass' });
    expect(
      evaluateSet(set(entries, 2), fakeLeaf({ a: fail('CHAIN'), b: pass('B'), c: fail('LOG') })).outcome,
    ).toMatchObject({ status: 'fail', failure: 'COUNT_NOT_MET' });
    expect(
      evaluateSet(set(entries, 2), fakeLeaf({ a: fail('CHAIN'), b: fail('LOG'), c: fail('LOG') })).outcome,
    ).toMatchObject({ status: 'fail', failure: 'CHAIN' });
  });

  test('a count above the entries cannot be met', () => {
    expect(evaluateSet(set([leaf('a')], 2), fakeLeaf({ a: pass('A') })).outcome).toMatchObject({
      status: 'fail',
      failure: 'COUNT_NOT_MET',
    });
  });

  test('a nested set is one entry; its passing leaves count as values even when it fails', () => {
    const inner = set([leaf('b'), leaf('c')], undefined, 'inner');
    const outer = set([leaf('a'), nested(inner)], 1);
    const result = evaluateSet(outer, fakeLeaf({ a: pass('A'), b: pass('B'), c: fail('IDENTITY_MISMATCH') }));
    expect(result.outcome).toEqual({ status: 'pass' });
    expect(result).toMatchObject({ values: ['A', 'B'], verified: 1, required: 1 });

    const failing = evaluateSet(
      set([nested(inner)]),
      fakeLeaf({ b: pass('B'), c: fail('IDENTITY_MISMATCH') }),
    );
    expect(failing.outcome).toMatchObject({ status: 'fail', failure: 'IDENTITY_MISMATCH' });
  });
});

describe('evaluateSet: not trusted versus could not check', () => {
  test('entries in error that would decide the set make an error, with the first cause', () => {
    const result = evaluateSet(set([leaf('a'), leaf('b')], 1), fakeLeaf({ a: error(), b: fail('CHAIN') }));
    expect(result.outcome).toMatchObject({ status: 'error', cause: down });
  });

  test('errors that cannot rescue the set leave it a failure', () => {
    const result = evaluateSet(
      set([leaf('a'), leaf('b')]),
      fakeLeaf({ a: error(), b: fail('DIGEST_MISMATCH') }),
    );
    expect(result.outcome).toMatchObject({ status: 'fail', failure: 'DIGEST_MISMATCH' });
  });

  test('errors do not matter when the passing entries already decide', () => {
    const result = evaluateSet(set([leaf('a'), leaf('b')], 1), fakeLeaf({ a: error(), b: pass('B') }));
    expect(result.outcome).toEqual({ status: 'pass' });
  });
});

describe('evaluateSets: every set must pass', () => {
  test('the first failing set decides and the sets after it are not evaluated', () => {
    const check = fakeLeaf({ a: error(), b: fail('NO_SIGNATURES'), c: pass('C') });
    const result = evaluateSets(
      [set([leaf('a')], undefined, 's1'), set([leaf('b')], undefined, 's2'), set([leaf('c')])],
      check,
    );
    expect(result.outcome).toMatchObject({ status: 'fail', failure: 'NO_SIGNATURES' });
    expect(result.deciding).toMatchObject({ verified: 0, required: 1 });
    expect(check.asked).toEqual(['a', 'b']);
  });

  test('otherwise the first set in error, with the values of every set', () => {
    const result = evaluateSets(
      [set([leaf('a')]), set([leaf('b')]), set([leaf('c')])],
      fakeLeaf({ a: pass('A'), b: error('first'), c: error('second') }),
    );
    expect(result.outcome).toMatchObject({ status: 'error', reason: 'first' });
    expect(result.values).toEqual(['A']);
  });

  test('all passing: a pass with every value, and no deciding set', () => {
    const result = evaluateSets(
      [set([leaf('a')]), set([leaf('b')])],
      fakeLeaf({ a: pass('A'), b: pass('B') }),
    );
    expect(result).toEqual({ outcome: { status: 'pass' }, values: ['A', 'B'], deciding: undefined });
  });

  test('leafAttestors lists the leaves of nested sets too', () => {
    const sets = [set([leaf('a'), nested(set([leaf('b'), nested(set([leaf('c')]))]))])];
    expect(leafAttestors(sets).map((item) => item.path)).toEqual(['a', 'b', 'c']);
  });
});

describe('chooseEvidence: the bundle-first rule', () => {
  const verifiers: EvidenceVerifiers<string> = {
    bundles: (bundles) => (bundles.length > 0 ? pass('bundle') : fail('NO_SIGNATURES')),
    legacy: (layers) => (layers.length > 0 ? pass('layer') : fail('NO_SIGNATURES')),
  };
  const layer = { mediaType: 'x', digest: 'sha256:1', annotations: {}, payload: new Uint8Array() };
  const bundle = { manifestDigest: 'sha256:2', mediaType: 'x', bytes: new Uint8Array() };
  const corrupt = {
    ok: false,
    trusted: false,
    reason: 'digest mismatch',
    cause: new Error('content'),
  } as const;
  const unreachable = { ok: false, trusted: 'unknown', reason: 'timeout', cause: down } as const;
  const evidence = (
    legacy: AttestorEvidence['legacy'],
    bundles: AttestorEvidence['bundles'],
  ): AttestorEvidence => ({ legacy, bundles });

  test('Cosign: bundles when there are any, else the legacy layers', () => {
    const both = evidence({ ok: true, layers: [layer] }, { ok: true, bundles: [bundle] });
    expect(chooseEvidence('Cosign', both, verifiers)).toEqual(pass('bundle'));
    const legacyOnly = evidence({ ok: true, layers: [layer] }, { ok: true, bundles: [] });
    expect(chooseEvidence('Cosign', legacyOnly, verifiers)).toEqual(pass('layer'));
  });

  test('SigstoreBundle: bundles only, and an unreadable bundle lookup decides', () => {
    const legacyOnly = evidence({ ok: true, layers: [layer] }, { ok: true, bundles: [] });
    expect(chooseEvidence('SigstoreBundle', legacyOnly, verifiers)).toMatchObject({
      failure: 'NO_SIGNATURES',
    });
    expect(
      chooseEvidence('SigstoreBundle', evidence({ ok: true, layers: [layer] }, unreachable), verifiers),
    ).toEqual({
      status: 'error',
      reason: 'timeout',
      cause: down,
    });
  });

  test('Cosign with a failed bundle lookup: only a passing legacy signature decides', () => {
    expect(chooseEvidence('Cosign', evidence({ ok: true, layers: [layer] }, unreachable), verifiers)).toEqual(
      pass('layer'),
    );
    expect(
      chooseEvidence('Cosign', evidence({ ok: true, layers: [] }, unreachable), verifiers),
    ).toMatchObject({
      status: 'error',
      cause: down,
    });
    expect(chooseEvidence('Cosign', evidence({ ok: true, layers: [] }, corrupt), verifiers)).toMatchObject({
      status: 'fail',
      failure: 'NO_SIGNATURES',
    });
  });

  test('unfetched: content the registry got wrong is not trusted, the rest could not be checked', () => {
    expect(unfetched(corrupt)).toEqual({
      status: 'fail',
      failure: 'UNTRUSTED_CONTENT',
      reason: 'digest mismatch',
      cause: corrupt.cause,
    });
    expect(unfetched(unreachable)).toEqual({ status: 'error', reason: 'timeout', cause: down });
  });
});
