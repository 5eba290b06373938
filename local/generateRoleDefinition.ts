import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { mlCustomRoleDefinition } from '../shared/permissions';

/** JSON text of `infra/ml-custom-role.json` (stable formatting so the test can compare text). */
export function renderRoleDefinition(): string {
  return `${JSON.stringify(mlCustomRoleDefinition(), null, 2)}\n`;
}

/** Writes infra/ml-custom-role.json, loaded by infra/modules/mlRole.bicep with loadJsonContent. */
export function generateRoleDefinition(root = resolve(__dirname, '..', '..')): string {
  const target = resolve(root, 'infra', 'ml-custom-role.json');
  writeFileSync(target, renderRoleDefinition());
  return target;
}

if (require.main === module) {
  // Compiled to dist/local/, so the repo root is two levels up; allow an explicit root argument.
  const written = generateRoleDefinition(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`wrote ${written}\n`);
}
