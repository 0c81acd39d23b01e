/**
 * Minimal SVG text building for the renderers: escaping, compact coordinates, and elements from
 * attribute records. The output is self-contained (no external fonts, images or scripts), so it
 * renders the same in a browser, an image viewer or on GitHub.
 */

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

/** A coordinate with at most two decimals (enough at screen resolution, keeps the files small). */
export function num(x: number): string {
  return String(Math.round(x * 100) / 100);
}

export type Attrs = Record<string, string | number | undefined>;

function attrText(attrs: Attrs): string {
  let s = '';
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    s += ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`;
  }
  return s;
}

/** `<name attrs/>`, or `<name attrs>children</name>` when children are given (already SVG text). */
export function el(name: string, attrs: Attrs, children?: string | string[]): string {
  if (children === undefined) return `<${name}${attrText(attrs)}/>`;
  const inner = Array.isArray(children) ? children.join('') : children;
  return `<${name}${attrText(attrs)}>${inner}</${name}>`;
}

/** A text element; `content` is plain text (escaped here). */
export function text(content: string, attrs: Attrs): string {
  return el('text', attrs, escapeXml(content));
}

/** The document wrapper: XML declaration, svg root with viewBox, a white background. */
export function svgDocument(width: number, height: number, body: string[], title?: string): string {
  const head = title === undefined ? '' : el('title', {}, escapeXml(title));
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    el(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${num(width)} ${num(height)}`,
        'font-family': 'Helvetica, Arial, sans-serif',
        'font-size': 12,
      },
      [head, el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }), ...body].join('\n'),
    ) +
    '\n'
  );
}

/** Approximate rendered width of `s` at `fontSize` in a sans-serif font (layout only). */
export function textWidth(s: string, fontSize = 12): number {
  return [...s].length * fontSize * 0.6;
}
