// The stand-in's filtering must agree with the scheduler's rules it imitates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exprMatches, nodeFits } from './scheduler-stand-in.js';

const node = (labels: Record<string, string>) => ({ metadata: { name: 'n', labels } });
const pod = (spec: object) => ({ metadata: { name: 'p', namespace: 'ns' }, spec });

describe('scheduler stand-in', () => {
  it('matches node selector requirements like the scheduler', () => {
    const l = { zone: 'a' };
    assert.ok(exprMatches({ key: 'zone', operator: 'In', values: ['a', 'b'] }, l));
    assert.ok(!exprMatches({ key: 'zone', operator: 'In', values: ['b'] }, l));
    assert.ok(exprMatches({ key: 'site', operator: 'NotIn', values: ['a'] }, l));
    assert.ok(exprMatches({ key: 'zone', operator: 'Exists' }, l));
    assert.ok(!exprMatches({ key: 'zone', operator: 'DoesNotExist' }, l));
    assert.ok(!exprMatches({ key: 'zone', operator: 'Gt', values: ['1'] }, l), 'unsupported operators never match');
  });

  it('ANDs nodeSelector with required affinity, ORs the terms', () => {
    const p = pod({
      nodeSelector: { gpu: 'no' },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
        { matchExpressions: [{ key: 'avec.dev/site', operator: 'In', values: ['edge-c'] }] },
        { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['edge-c'] }] },
      ] } } },
    });
    assert.ok(nodeFits(p, node({ gpu: 'no', 'topology.kubernetes.io/zone': 'edge-c' })));
    assert.ok(nodeFits(p, node({ gpu: 'no', 'avec.dev/site': 'edge-c' })));
    assert.ok(!nodeFits(p, node({ gpu: 'no', 'topology.kubernetes.io/zone': 'edge-b' })));
    assert.ok(!nodeFits(p, node({ 'topology.kubernetes.io/zone': 'edge-c' })), 'nodeSelector still applies');
    assert.ok(nodeFits(pod({}), node({})));
  });
});
