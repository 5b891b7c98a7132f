// The pass's verdict on one checked extent, as a pure function: every kind of
// verdict, findings about fragments rewritten meanwhile dropped, known
// problems cleared, and the repair cap.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ExtentWithFragments, FragmentRow } from '../../src/catalog/index.js';
import { classify } from '../../src/scrub/classify.js';
import type { Checked } from '../../src/scrub/page.js';

type Status = 'ok' | 'checksum_mismatch' | 'missing';

function extent(states: FragmentRow['state'][] = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']): ExtentWithFragments {
  return {
    ord: 1, id: 'e1', objectId: 'o1', seq: 0, size: 4096, policy: 'ec:4+2', need: 4, width: 6, fragmentLength: 1024, payloadOffset: 64,
    checksum: '0'.repeat(16), state: 'healthy', verifiedAt: null,
    fragments: states.map((state, index) => ({ extentId: 'e1', index, diskId: `d${index}`, checksum: `${index}`.repeat(16), bytes: 1088, state })),
  } as ExtentWithFragments;
}

function checked(of: ExtentWithFragments, statuses: Status[] | null): Checked {
  return { extent: of, snapshot: of.fragments.map((f) => ({ ...f })), outcomes: statuses && statuses.map((status) => ({ status, bytes: 1088 })), ...(statuses ? {} : { error: 'worker died' }) };
}

const repairAll = { dryRun: false, repair: true, repairRoom: 100 };

test('each verdict', () => {
  const e = extent();
  assert.equal(classify(checked(e, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']), e, repairAll), { kind: 'healthy', cleared: [] });
  assert.equal(classify(checked(e, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']), null, repairAll), { kind: 'skipped' });
  assert.equal(classify(checked(e, null), e, repairAll), { kind: 'check_failed', error: 'worker died' });
  const twoBad: Status[] = ['checksum_mismatch', 'ok', 'ok', 'missing', 'ok', 'ok'];
  const bad = [{ index: 0, diskId: 'd0', kind: 'checksum_mismatch', observed: null }, { index: 3, diskId: 'd3', kind: 'missing', observed: null }];
  assert.equal(classify(checked(e, twoBad), e, repairAll), { kind: 'repair', bad, cleared: [] });
  assert.equal(classify(checked(e, twoBad), e, { ...repairAll, repair: false }), { kind: 'degraded', bad, cleared: [], action: 'reported' });
  assert.equal(classify(checked(e, twoBad), e, { ...repairAll, dryRun: true }), { kind: 'degraded', bad, cleared: [], action: 'would_repair' });
  assert.equal(classify(checked(e, twoBad), e, { ...repairAll, repairRoom: 1 }), { kind: 'degraded', bad, cleared: [], action: 'repair_paused' });
  assert.is(classify(checked(e, twoBad), e, { ...repairAll, repairRoom: 2 }).kind, 'repair');
  assert.is(classify(checked(e, ['missing', 'missing', 'missing', 'ok', 'ok', 'ok']), e, repairAll).kind, 'unrecoverable');
  // The checksum of the bytes a bad fragment was found with goes with it, as 16 hex digits.
  const withHash = checked(e, twoBad);
  withHash.outcomes![0]!.hash = 0xabcn;
  assert.equal((classify(withHash, e, repairAll) as { bad: { observed: string | null }[] }).bad.map((b) => b.observed), ['0000000000000abc', null]);
});

test('a fragment rewritten while it was read is not judged; a known problem that checks out is cleared', () => {
  const before = extent(['ok', 'checksum_mismatch', 'ok', 'ok', 'ok', 'ok']);
  const after = extent(['ok', 'checksum_mismatch', 'ok', 'ok', 'ok', 'ok']);
  after.fragments[0] = { ...after.fragments[0]!, diskId: 'd9' }; // moved by a repair meanwhile
  const verdict = classify(checked(before, ['checksum_mismatch', 'ok', 'ok', 'ok', 'ok', 'ok']), after, repairAll);
  assert.equal(verdict, { kind: 'healthy', cleared: [1] });
});

test.run();
