/**
 * Runs the compiled rules on a flow written as text and reports the decision in the reference
 * interpreter's shape, so tests can state flows readably and compare the two directly.
 */
import assert from 'node:assert/strict';
import type { CompiledRoleRules } from './compiled-role-rules.js';
import { parseIp } from '../../wire/ip-parse.js';
import type { Decision, FlowText } from './reference-interpreter.test-support.js';

export function decideText(rules: CompiledRoleRules, flow: FlowText): Decision | null {
  const orig = parseIp(flow.origAddr);
  const resp = parseIp(flow.respAddr);
  assert.ok(orig !== undefined && resp !== undefined && orig.version === resp.version, `bad test flow ${JSON.stringify(flow)}`);
  if (!rules.decide(orig.version, flow.proto, orig.words, flow.origPort, resp.words, flow.respPort)) return null;
  return {
    clientSide: rules.clientSide,
    servicePortSide: rules.servicePortSide,
    drop: rules.drop,
    ruleName: rules.ruleName(rules.ruleIndex),
  };
}
