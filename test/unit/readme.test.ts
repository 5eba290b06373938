import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { renderSettingsTable, withSettingsTable } from '../../local/settingsDocs';
import { SETTINGS } from '../../shared/config';

const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

describe('File: README.md', () => {
  it('starts with exactly the two quick-start lines', () => {
    // Assess
    expect(readme).toContain('```sh\nnpm ci && npm start\nnpm ci && npm test\n```');
  });

  it('carries the settings table generated from shared/config.ts (run `npm run docs` after changing settings)', () => {
    // Act
    const regenerated = withSettingsTable(readme);

    // Assess
    expect(regenerated).toBe(readme);
    for (const setting of Object.values(SETTINGS))
      expect(renderSettingsTable()).toContain(`\`${setting.name}\``);
  });
});
