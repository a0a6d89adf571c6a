/**
 * Writes the 50-rule DLLT_ROLE_RULES file of the bench's `roles` section (issue 6: the rules
 * may add at most 5 % to `dllt read`). Shaped as the worst case for the bench capture, whose
 * addresses are all in 10.77.0.0/16: 24 site networks the traffic never touches come first (so
 * each lookup walks past them), then 48 rules whose networks match every flow but whose port
 * sets never do (each passes the flow on to the next rule), then a PortMatch for the services
 * the capture uses, and a LowerPort catch-all.
 *
 *   node dist/bench/role-rules-50.js OUT.json
 */
import { writeFileSync } from 'node:fs';
import type { RoleRulesConfig } from '../src/analyze/roles/config-types.js';

const out = process.argv[2];
if (out === undefined) {
  console.error('usage: role-rules-50.js OUT.json');
  process.exit(2);
}

const sites = Array.from({ length: 24 }, (_, i): [string, string[]] => [`site${i}`, [`10.${200 + (i % 50)}.${i}.0/24`, `fd00:${i.toString(16)}::/48`]]);
const unusedPorts = (i: number): number[] => [20_000 + i * 3, 20_001 + i * 3, 20_002 + i * 3];
const config: RoleRulesConfig = {
  networks: [...sites, ['lab', '10.77.0.0/16'], ['rest', ['0.0.0.0/0', '::/0']]],
  rules: [
    ...Array.from({ length: 48 }, (_, i) => ({
      name: `unused-${i}`,
      src: i % 2 === 0 ? 'lab' : null,
      dst: i % 3 === 0 ? null : 'lab',
      action: i % 2 === 0
        ? { portMatch: { ports: unusedPorts(i), precedence: 'dst' as const } }
        : { assign: { client: 'src' as const, port: 'dst' as const, ports: unusedPorts(i) } },
    })),
    { name: 'lab-services', src: 'lab', dst: 'lab', action: { portMatch: { ports: [53, 80, 443, 5201, 8080, 8443], precedence: 'dst' } } },
    { name: 'rest', src: null, dst: null, action: { lowerPort: null } },
  ],
};
if (config.rules.length !== 50) throw new Error(`expected 50 rules, made ${config.rules.length}`);
writeFileSync(out, JSON.stringify(config, null, 1) + '\n');
