/** Parsing SVG text with a real XML parser (fast-xml-parser) for the render and CLI tests. */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface XmlNode {
  tag: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  /** Concatenated text of this node's direct text children. */
  text: string;
}

type Raw = Record<string, unknown>;

function convert(raw: Raw[]): XmlNode[] {
  const out: XmlNode[] = [];
  for (const item of raw) {
    const tag = Object.keys(item).find((k) => k !== ':@');
    if (tag === undefined || tag === '#text' || tag.startsWith('?')) continue;
    const kids = item[tag] as Raw[];
    out.push({
      tag,
      attrs: (item[':@'] as Record<string, string> | undefined) ?? {},
      children: convert(kids),
      text: kids
        .filter((k) => '#text' in k)
        .map((k) => String(k['#text']))
        .join(''),
    });
  }
  return out;
}

/** Validates and parses an SVG document; throws with the parser's message when it is not XML. */
export function parseSvg(svg: string): XmlNode {
  const v = XMLValidator.validate(svg);
  if (v !== true) throw new Error(`not well-formed XML: ${v.err.msg} (line ${v.err.line})`);
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    trimValues: false,
  });
  const roots = convert(parser.parse(svg) as Raw[]);
  const svgRoot = roots.find((n) => n.tag === 'svg');
  if (svgRoot === undefined) throw new Error('no <svg> root element');
  return svgRoot;
}

/** Every descendant (and the node itself) matching `pred`, in document order. */
export function findAll(node: XmlNode, pred: (n: XmlNode) => boolean): XmlNode[] {
  const out: XmlNode[] = [];
  const walk = (n: XmlNode) => {
    if (pred(n)) out.push(n);
    n.children.forEach(walk);
  };
  walk(node);
  return out;
}

export const byClass =
  (tag: string, cls: string) =>
  (n: XmlNode): boolean =>
    n.tag === tag && (n.attrs.class ?? '').split(/\s+/).includes(cls);

/** Text of every <text> element. */
export function texts(node: XmlNode): string[] {
  return findAll(node, (n) => n.tag === 'text').map((n) => n.text);
}
