/** A list's page as the API describes it in `X-Total-Count` and `Link` (RFC 8288). */

export type PageRelation = "first" | "prev" | "next" | "last";

/** Where a linked page starts; the API keeps every other query parameter as it was. */
export interface PagePosition {
  limit: number;
  offset: number;
}

export type PageLinks = Partial<Record<PageRelation, PagePosition>>;

const RELATIONS: readonly string[] = ["first", "prev", "next", "last"];
const LINK_VALUE = /<([^>]*)>\s*;\s*rel="?([^";,]+)"?/g;

/** The `first`/`prev`/`next`/`last` positions named by a `Link` header. */
export function parseLinks(header: string | null): PageLinks {
  const links: PageLinks = {};
  for (const [, target = "", relation = ""] of (header ?? "").matchAll(LINK_VALUE)) {
    if (!RELATIONS.includes(relation)) continue;
    const query = new URL(target, "http://relative.invalid").searchParams;
    links[relation as PageRelation] = {
      limit: Number(query.get("limit")),
      offset: Number(query.get("offset") ?? 0),
    };
  }
  return links;
}

/** `X-Total-Count`: how many tasks match the filters over all pages. */
export function parseTotal(header: string | null): number {
  const total = Number(header);
  if (header === null || !Number.isSafeInteger(total)) {
    throw new Error(`X-Total-Count is missing or not a whole number: ${header}`);
  }
  return total;
}
