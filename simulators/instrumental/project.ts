import { DEFAULT_LINE_NAME } from './assumptions.ts';
import type { IngestData } from './data.ts';

export interface Limits {
  builds: number;
  lines: number;
  configs: number;
  stations: number;
  fixtures: number;
  imageTypes: number;
  imagesPerUnit: number;
  subassembliesPerUnit: number;
  tagsPerRequest: number;
}

export type ProjectCheck =
  | { ok: true; commit: () => void }
  | { ok: false; code: 'INVALID_ASSEMBLY_RELATIONSHIPS' | 'LIMIT_EXCEEDED'; msg: string };

type Dimension = 'builds' | 'lines' | 'configs' | 'stations' | 'fixtures' | 'imageTypes';

const LABEL: Record<Dimension, string> = {
  builds: 'builds',
  lines: 'lines',
  configs: 'configs',
  stations: 'station names',
  fixtures: 'station-fixture IDs',
  imageTypes: 'image/video types',
};

/** What one Instrumental project remembers across requests: entity names, images per unit, assembly links. */
export class Project {
  readonly values: Record<Dimension, Set<string>> = {
    builds: new Set(),
    lines: new Set(),
    configs: new Set(),
    stations: new Set(),
    fixtures: new Set(),
    imageTypes: new Set(),
  };
  readonly imagesPerUnit = new Map<string, number>();
  /** Every parent → child link ever uploaded (active or not: cycles are checked against all of them). */
  readonly children = new Map<string, Set<string>>();
  /** The active (most recent) parent of each unit. */
  readonly activeParent = new Map<string, string>();

  constructor(readonly name: string) {}

  /** Checks a request against the project; `commit()` records it (call only when the whole request succeeds). */
  check(data: IngestData, limits: Limits): ProjectCheck {
    const sn = data.serialNumber;
    const edges: Array<[string, string]> = [];
    if (data.parentAssembly) edges.push([data.parentAssembly.unitSerial, sn]);
    for (const s of data.subassemblies ?? []) edges.push([sn, s.unitSerial]);

    for (const [parent, child] of edges) {
      if (parent.trim() === '' || child.trim() === '') {
        return { ok: false, code: 'INVALID_ASSEMBLY_RELATIONSHIPS', msg: 'unitSerial must not be empty' };
      }
      if (parent === child) {
        return {
          ok: false,
          code: 'INVALID_ASSEMBLY_RELATIONSHIPS',
          msg: `unit ${sn} cannot be its own subassembly`,
        };
      }
    }
    const added = new Map<string, Set<string>>();
    for (const [parent, child] of edges) {
      const set = added.get(parent) ?? new Set<string>();
      set.add(child);
      added.set(parent, set);
    }
    for (const [parent, kids] of added) {
      const total = new Set([...(this.children.get(parent) ?? []), ...kids]).size;
      if (total > limits.subassembliesPerUnit) {
        return {
          ok: false,
          code: 'INVALID_ASSEMBLY_RELATIONSHIPS',
          msg: `unit ${parent} would have ${total} subassemblies; at most ${limits.subassembliesPerUnit} are allowed`,
        };
      }
    }
    const next = (unit: string): string[] => [...(this.children.get(unit) ?? []), ...(added.get(unit) ?? [])];
    for (const [parent, child] of edges) {
      if (reaches(child, parent, next)) {
        return {
          ok: false,
          code: 'INVALID_ASSEMBLY_RELATIONSHIPS',
          msg: `relationship ${parent} → ${child} would create a cycle (${parent} is already a descendant of ${child})`,
        };
      }
    }

    const wanted: Array<[Dimension, string | undefined]> = [
      ['builds', data.buildName],
      ['lines', data.lineName ?? DEFAULT_LINE_NAME],
      ['configs', data.configName],
      ['stations', data.stationName],
      ['fixtures', data.fixtureName],
      ['imageTypes', data.imageType],
    ];
    for (const [dim, value] of wanted) {
      if (value === undefined || this.values[dim].has(value)) continue;
      if (this.values[dim].size + 1 > limits[dim]) {
        return {
          ok: false,
          code: 'LIMIT_EXCEEDED',
          msg: `This request would create more than ${limits[dim]} ${LABEL[dim]} in the project ("${value}" is new)`,
        };
      }
    }
    const images = this.imagesPerUnit.get(sn) ?? 0;
    if (images + 1 > limits.imagesPerUnit) {
      return {
        ok: false,
        code: 'LIMIT_EXCEEDED',
        msg: `Unit ${sn} already has ${images} images/videos; at most ${limits.imagesPerUnit} are allowed`,
      };
    }

    return {
      ok: true,
      commit: () => {
        for (const [dim, value] of wanted) if (value !== undefined) this.values[dim].add(value);
        this.imagesPerUnit.set(sn, images + 1);
        for (const [parent, child] of edges) {
          const set = this.children.get(parent) ?? new Set<string>();
          set.add(child);
          this.children.set(parent, set);
          this.activeParent.set(child, parent);
        }
      },
    };
  }

  summary(): Record<string, unknown> {
    return {
      builds: [...this.values.builds],
      lines: [...this.values.lines],
      configs: this.values.configs.size,
      stations: this.values.stations.size,
      fixtures: this.values.fixtures.size,
      imageTypes: this.values.imageTypes.size,
      units: this.imagesPerUnit.size,
      activeParents: Object.fromEntries(this.activeParent),
    };
  }
}

/** Depth-first search: is `target` reachable from `start` following child links? */
function reaches(start: string, target: string, next: (unit: string) => string[]): boolean {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const unit = stack.pop() as string;
    if (unit === target) return true;
    if (seen.has(unit)) continue;
    seen.add(unit);
    stack.push(...next(unit));
  }
  return false;
}
