import { OutputTail } from '../../local/host/OutputTail';

describe('Class: OutputTail', () => {
  it('keeps everything while under its limit', () => {
    const tail = new OutputTail(100);
    tail.append('Functions host listening on http://127.0.0.1:7071\n');
    tail.append('line 2\n');
    expect(tail.toString()).toBe('Functions host listening on http://127.0.0.1:7071\nline 2\n');
  });

  it('keeps the latest output and says how much went, once past its limit', () => {
    // Prepare
    const tail = new OutputTail(20);

    // Act: 30 ten-character lines
    for (let i = 0; i < 30; i++) tail.append(`line ${String(i).padStart(4, '0')}\n`);

    // Assess: never more than the limit kept, the newest line always among it, the count exact
    const text = tail.toString();
    const [note, ...kept] = text.split('\n');
    expect(kept.join('\n').length).toBeLessThanOrEqual(20);
    expect(text.endsWith('line 0029\n')).toBe(true);
    expect(note).toBe(`[${300 - kept.join('\n').length} earlier characters dropped]`);
  });
});
