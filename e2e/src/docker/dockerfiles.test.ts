// docker/*.Dockerfile are never built here (no Docker engine), so they are checked statically:
// hadolint, plus structural rules that catch drift from the tree (every COPY source exists, stages
// referenced exist, final stages run as non-root with an exec-form ENTRYPOINT), and the shim image
// matches what the operator's init container copies.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';

const DOCKER_DIR = join(REPO_ROOT, 'docker');
const files = readdirSync(DOCKER_DIR).filter((f) => f.endsWith('.Dockerfile')).sort();

interface Instruction { op: string; args: string; line: number }

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (line === '' || line.startsWith('#'))) return;
    if (!buf) start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(buf)!;
      out.push({ op: m[1].toUpperCase(), args: m[2], line: start });
      buf = '';
    }
  });
  return out;
}

describe('docker/', () => {
  it('has the three images', () => {
    assert.deepEqual(files, ['operator.Dockerfile', 'remoting-server.Dockerfile', 'shim.Dockerfile']);
  });

  it('passes hadolint', async () => {
    const hadolint = process.env.AVEC_HADOLINT ?? join(process.env.HOME ?? '', '.cache/avec/tools/hadolint/bin/hadolint');
    assert.ok(existsSync(hadolint), `hadolint missing at ${hadolint}: run make deps-hadolint`);
    const res = await runCli(hadolint, files.map((f) => join(DOCKER_DIR, f)), { check: false });
    assert.equal(res.code, 0, res.stdout + res.stderr);
  });

  for (const file of files) {
    describe(file, () => {
      const ins = parseDockerfile(readFileSync(join(DOCKER_DIR, file), 'utf8'));
      const stages = ins.filter((i) => i.op === 'FROM');
      const stageNames = stages.map((s) => / AS (\S+)$/i.exec(s.args)?.[1]).filter(Boolean) as string[];
      const finalIdx = ins.lastIndexOf(stages[stages.length - 1]);
      const final = ins.slice(finalIdx);

      it('pins every base image to a version tag', () => {
        for (const s of stages) {
          const image = s.args.split(/\s+/)[0];
          if (stageNames.includes(image)) continue;
          assert.match(image, /:[^:]*[0-9][^:]*$/, `line ${s.line}: ${image} has no version tag`);
          assert.doesNotMatch(image, /:latest$/);
        }
      });

      it('copies only paths that exist in the repository or in an earlier stage', () => {
        for (const c of ins.filter((i) => i.op === 'COPY')) {
          const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--chown') && !w.startsWith('--chmod'));
          const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
          const srcs = words.filter((w) => !w.startsWith('--')).slice(0, -1);
          if (from) {
            assert.ok(stageNames.includes(from) || /[:/]/.test(from), `line ${c.line}: unknown stage ${from}`);
            continue;
          }
          for (const src of srcs) assert.ok(existsSync(join(REPO_ROOT, src)), `line ${c.line}: ${src} is not in the repository`);
        }
      });

      it('has a .dockerignore that keeps local builds out but lets every COPY source in', () => {
        const ignorePath = join(DOCKER_DIR, `${file}.dockerignore`);
        assert.ok(existsSync(ignorePath), `${file}.dockerignore missing`);
        const patterns = readFileSync(ignorePath, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
        for (const must of ['**/node_modules', 'build', '.git']) assert.ok(patterns.includes(must), `${must} not ignored`);
        const ignored = (src: string) => patterns.some((p) => {
          const bare = p.replace(/^\*\*\//, '');
          return src === p || src.startsWith(`${p}/`) || (p.startsWith('**/') && src.split('/').includes(bare));
        });
        for (const c of ins.filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
          for (const src of c.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1)) {
            assert.ok(!ignored(src.replace(/\/$/, '')), `line ${c.line}: ${src} is excluded by the .dockerignore`);
          }
        }
      });

      it('runs as a non-root user with an exec-form ENTRYPOINT in its final stage', () => {
        const user = final.filter((i) => i.op === 'USER').pop();
        assert.ok(user, 'no USER in the final stage');
        assert.doesNotMatch(user.args, /^(root|0)(:|$)/);
        const ep = final.filter((i) => i.op === 'ENTRYPOINT').pop();
        assert.ok(ep, 'no ENTRYPOINT in the final stage');
        assert.ok(Array.isArray(JSON.parse(ep.args)), 'ENTRYPOINT must be exec form (JSON array)');
      });
    });
  }

  // A workspace's @avec/* dependencies are npm workspace links (node_modules/@avec/x -> ../../x): an
  // image that misses one builds nothing that can start.
  for (const [file, workspace] of [['operator.Dockerfile', 'operator'], ['remoting-server.Dockerfile', 'remoting-server']]) {
    it(`${file} builds and ships the workspaces ${workspace} depends on`, () => {
      const rootWorkspaces = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
      const byName = new Map(rootWorkspaces.map((w) => [(JSON.parse(readFileSync(join(REPO_ROOT, w, 'package.json'), 'utf8')) as { name: string }).name, w]));
      const deps = Object.keys((JSON.parse(readFileSync(join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
      const local = deps.filter((d) => byName.has(d)).map((d) => byName.get(d)!);
      assert.ok(local.length > 0, `${workspace} has no workspace dependencies: is this check still needed?`);
      const ins = parseDockerfile(readFileSync(join(DOCKER_DIR, file), 'utf8'));
      const copies = ins.filter((i) => i.op === 'COPY').map((i) => i.args);
      const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
      for (const w of local) {
        assert.ok(copies.some((a) => !a.includes('--from=') && a.startsWith(`${w}/package.json `)), `${file}: ${w}/package.json not copied before npm ci`);
        assert.ok(copies.some((a) => !a.includes('--from=') && a.startsWith(`${w}/ `)), `${file}: ${w}/ sources not copied`);
        assert.match(runs, new RegExp(`npm ci [^\\n]*--workspace ${w} `), `${file}: npm ci does not install ${w}`);
        assert.match(runs, new RegExp(`tsc -b [^\\n&]*\\b${w}\\b`), `${file}: ${w} is not compiled`);
        assert.ok(copies.some((a) => a.startsWith(`--from=build /src/${w}/dist/ `)), `${file}: the final image lacks ${w}/dist`);
        assert.ok(copies.some((a) => a.startsWith(`--from=build /src/${w}/package.json `)), `${file}: the final image lacks ${w}/package.json`);
      }
    });
  }

  it('puts the shim libraries where the webhook init container copies them from', async () => {
    const inject = await import(join(REPO_ROOT, 'operator', 'dist', 'admission', 'inject.js')) as {
      SHIM_LIBS: string[];
      initContainerFor(cfg: { shimImage: string }): { command: string[] };
    };
    const script = inject.initContainerFor({ shimImage: 'x' }).command.join(' ');
    const ins = parseDockerfile(readFileSync(join(DOCKER_DIR, 'shim.Dockerfile'), 'utf8'));
    const copy = ins.filter((i) => i.op === 'COPY' && i.args.includes('--from=build')).pop()!;
    const dest = copy.args.split(/\s+/).pop()!;
    for (const lib of inject.SHIM_LIBS) {
      assert.ok(copy.args.includes(`/${lib}`), `shim image does not ship ${lib}`);
      assert.ok(script.includes(`${dest.replace(/\/$/, '')}/${lib}`), `init container copies ${lib} from elsewhere: ${script}`);
    }
  });
});
