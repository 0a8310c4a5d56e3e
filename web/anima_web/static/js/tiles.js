// C2SP tlog-tiles (https://c2sp.org/tlog-tiles), as anima_verify/tlog/tiles.py
// and reader.py: paths, entry bundles, hash tiles, and the Merkle hashes they
// hold for one tree size. Nothing read here is trusted: every hash a proof
// takes from a tile is checked against the signed root by the caller.
import { nodeHash, HASH_SIZE } from './merkle.js';
import { Reason, VerificationError, fail } from './errors.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

/** 1234067 -> 'x001/x234/067'. */
export function encodeTileIndex(index) {
  const groups = [String(index % 1000).padStart(3, '0')];
  index = Math.floor(index / 1000);
  while (index) {
    groups.push(`x${String(index % 1000).padStart(3, '0')}`);
    index = Math.floor(index / 1000);
  }
  return groups.reverse().join('/');
}

const withWidth = (path, width) => (width === TILE_WIDTH ? path : `${path}.p/${width}`);
export const tilePath = (level, index, width = TILE_WIDTH) => withWidth(`tile/${level}/${encodeTileIndex(index)}`, width);
export const entriesPath = (index, width = TILE_WIDTH) => withWidth(`tile/entries/${encodeTileIndex(index)}`, width);

/** How many hashes tile (level, index) holds in a tree of `size` (0: absent). */
export function tileWidth(level, index, size) {
  const nodes = Math.floor(size / 2 ** (TILE_HEIGHT * level));
  return Math.max(0, Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH));
}

/** Exactly `width` entries (uint16 big-endian length, bytes), no trailing bytes. */
export function decodeEntryBundle(data, width, path = 'entry bundle') {
  const entries = [];
  let offset = 0;
  while (offset < data.length) {
    if (offset + 2 > data.length) fail(Reason.MALFORMED_TILE, `${path} ends inside the length of entry ${entries.length}`);
    const length = (data[offset] << 8) | data[offset + 1];
    offset += 2;
    if (offset + length > data.length) fail(Reason.MALFORMED_TILE, `${path} ends inside entry ${entries.length}`);
    entries.push(data.subarray(offset, offset + length));
    offset += length;
  }
  if (entries.length !== width) fail(Reason.MALFORMED_TILE, `${path} holds ${entries.length} entries, want ${width}`);
  return entries;
}

export function decodeHashTile(data, width, path = 'hash tile') {
  if (data.length !== width * HASH_SIZE) fail(Reason.MALFORMED_TILE, `${path} is ${data.length} bytes, want ${width * HASH_SIZE}`);
  const hashes = [];
  for (let i = 0; i < width; i++) hashes.push(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return hashes;
}

/**
 * Reads the tiles of one tree size from `source` (read(path) -> bytes | null),
 * falling back to the full tile when a partial one is gone (logs may delete
 * partial tiles once the full tile exists).
 */
export class TileStore {
  constructor(source, size) {
    this.source = source;
    this.size = size;
    this.tiles = new Map(); // "level/index" -> levels[r][i]: hashes r levels above the tile's base
  }

  async readTile(level, index, width) {
    let path = tilePath(level, index, width);
    let data = await this.source.read(path);
    if (data === null && width < TILE_WIDTH) {
      path = tilePath(level, index);
      data = await this.source.read(path);
      if (data !== null) data = data.subarray(0, width * HASH_SIZE);
    }
    if (data === null) fail(Reason.MISSING_TILE, `${tilePath(level, index, width)} is missing from the log`);
    return { path, hashes: decodeHashTile(data, width, path) };
  }

  async readBundle(index) {
    const width = tileWidth(0, index, this.size);
    let path = entriesPath(index, width);
    let data = await this.source.read(path);
    if (data === null && width < TILE_WIDTH) {
      // The full bundle: its first `width` entries are ours.
      const full = await this.source.read(entriesPath(index));
      if (full !== null) {
        path = entriesPath(index);
        return { path, entries: decodeEntryBundle(full, TILE_WIDTH, path).slice(0, width) };
      }
    }
    if (data === null) fail(Reason.MISSING_TILE, `${path} is missing from the log`);
    return { path, entries: decodeEntryBundle(data, width, path) };
  }

  /** Fetch every tile `compute(reader)` will ask for, then run it with them. */
  async run(compute) {
    const wanted = new Map();
    compute({
      node: (level, index) => {
        const [tileLevel, tileIndex] = this.locate(level, index);
        const key = `${tileLevel}/${tileIndex}`;
        if (!this.tiles.has(key)) wanted.set(key, [tileLevel, tileIndex]);
        return new Uint8Array(HASH_SIZE);
      },
    });
    await Promise.all(
      [...wanted].map(async ([key, [tileLevel, tileIndex]]) => {
        const width = tileWidth(tileLevel, tileIndex, this.size);
        const tile = await this.readTile(tileLevel, tileIndex, width);
        this.tiles.set(key, { path: tile.path, levels: tileLevels(tile.hashes) });
      }),
    );
    return compute({ node: (level, index) => this.node(level, index) });
  }

  locate(level, index) {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const first = index * 2 ** (level % TILE_HEIGHT); // the node's first descendant at the tile's base level
    return [tileLevel, Math.floor(first / TILE_WIDTH)];
  }

  node(level, index) {
    const [tileLevel, tileIndex] = this.locate(level, index);
    const tile = this.tiles.get(`${tileLevel}/${tileIndex}`);
    const r = level % TILE_HEIGHT;
    const offset = index - tileIndex * (TILE_WIDTH >> r);
    const hash = tile?.levels[r]?.[offset];
    if (!hash) throw new VerificationError(Reason.MISSING_TILE, `no hash for node (${level}, ${index}) in the tiles read`);
    return hash;
  }

  /** The level-0 hashes of tile `index` (for comparing with the entries' leaf hashes). */
  async leafTile(index) {
    const key = `0/${index}`;
    if (!this.tiles.has(key)) {
      const tile = await this.readTile(0, index, tileWidth(0, index, this.size));
      this.tiles.set(key, { path: tile.path, levels: tileLevels(tile.hashes) });
    }
    const tile = this.tiles.get(key);
    return { path: tile.path, hashes: tile.levels[0] };
  }
}

/** A tile's hashes and the complete levels above them inside the tile. */
export function tileLevels(hashes) {
  const levels = [hashes];
  while (levels.length < TILE_HEIGHT && levels.at(-1).length >= 2) {
    const below = levels.at(-1);
    const above = [];
    for (let i = 0; i + 1 < below.length; i += 2) above.push(nodeHash(below[i], below[i + 1]));
    levels.push(above);
  }
  return levels;
}
