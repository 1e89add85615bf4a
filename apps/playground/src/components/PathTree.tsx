/** The start-up path (qemuInit … kvmInit … pcInit1 … vmxCreateVcpu), package and file per node. */
import type { PathNode } from "@glassvm/cli";

function Node({ n, depth }: { n: PathNode; depth: number }) {
  const label = n.repeat > 1 ? `${n.label} ×${n.repeat}` : n.label;
  const site = n.site ? (
    <span className="site">
      {n.site.pkg} {n.site.file}
    </span>
  ) : null;
  if (n.children.length === 0) {
    return (
      <li>
        <code>{label}</code> {site}
      </li>
    );
  }
  return (
    <li>
      <details open={depth < 3}>
        <summary>
          <code>{label}</code> {site}
        </summary>
        <ul>
          {n.children.map((c, i) => (
            <Node key={i} n={c} depth={depth + 1} />
          ))}
        </ul>
      </details>
    </li>
  );
}

export function PathTree({ roots }: { roots: readonly PathNode[] }) {
  if (roots.length === 0) return <p>(no start-up recorded)</p>;
  return (
    <ul id="startup-tree" className="tree">
      {roots.map((r, i) => (
        <Node key={i} n={r} depth={0} />
      ))}
    </ul>
  );
}
