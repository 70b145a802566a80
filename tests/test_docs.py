"""The documentation cannot rot: every command in README.md, docs/*.md and
projects/*/README.md is either run or checked (rules: docs/get_started.md,
"Documentation that is tested").

* A ```bash / ```python block whose preceding line is ``<!-- runnable -->``
  is executed. All runnable blocks of a page run in order in one scratch
  directory that links the repository's top-level entries (so ``data/`` and
  ``work_dirs/`` stay inside it), with this interpreter's bin directory
  first on PATH and HF_HUB_OFFLINE=1.
* Every bash command is checked without running it: Makefile targets,
  tool arguments (parsed by the tool's own parser), configs and their
  ``--cfg-options`` keys, repository paths, pip extras. Other python
  blocks must compile.
* Consistency: README's ``make test`` is what .ci/run runs, the Makefile
  targets exist, required pages and sections exist, links resolve.
"""
import glob
import importlib.util
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest

from conftest import REPO_ROOT

RUNNABLE = '<!-- runnable -->'
DOC_FILES = sorted(
    [osp.join(REPO_ROOT, 'README.md')] +
    glob.glob(osp.join(REPO_ROOT, 'docs', '*.md')) +
    glob.glob(osp.join(REPO_ROOT, 'projects', '*', 'README.md')) +
    glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'README.md')))
REPO_DIRS = ('configs/', 'tools/', 'projects/', 'tests/', 'docs/',
             'benchmarks/', 'mmvlpuda/')
# commands that are shown but not checked beyond their shape
UNCHECKED = {'git', 'cd', 'source', 'export', 'mkdir', 'ls', 'echo', 'mim'}
SEPARATORS = {'&&', '||', ';', '|'}
NOT_LINKED = {
    '.git', '.venv', 'data', 'work_dirs', 'build', '.pytest_cache',
    '__pycache__'
}


@dataclass
class Block:
    path: str
    lineno: int
    lang: str
    code: str
    runnable: bool

    def __str__(self):
        return f'{osp.relpath(self.path, REPO_ROOT)}:{self.lineno}'


def parse_blocks(path):
    """Fenced code blocks of a markdown file."""
    lines = open(path, encoding='utf-8').read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r'^```([\w-]*)\s*$', lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not re.match(r'^```\s*$', lines[j]):
            j += 1
        prev = next((lines[k].strip()
                     for k in range(i - 1, -1, -1) if lines[k].strip()), '')
        blocks.append(
            Block(path, i + 1, m.group(1), '\n'.join(lines[i + 1:j]),
                  prev == RUNNABLE))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for f in DOC_FILES for b in parse_blocks(f)]


def bash_commands(code):
    """``(tokens, heredocs)`` of every command of a bash block:
    continuation lines joined, heredoc bodies collected (not commands),
    split at && || ; |."""
    commands, lines, i = [], code.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        while line.endswith('\\') and i + 1 < len(lines):
            i += 1
            line = line[:-1] + ' ' + lines[i]
        i += 1
        heredoc = None
        m = re.search(r"<<-?\s*'?(\w+)'?", line)
        if m:
            end, body = m.group(1), []
            while i < len(lines) and lines[i].strip() != end:
                body.append(lines[i])
                i += 1
            i += 1
            heredoc = '\n'.join(body)
            line = line[:m.start()] + line[m.end():]
        while True:  # a quoted string may span lines (python -c "...")
            try:
                tokens = shlex.split(line, comments=True)
                break
            except ValueError:
                assert i < len(lines), f'unterminated quote in {line!r}'
                line += '\n' + lines[i]
                i += 1
        cmd = []
        for tok in tokens + [';']:
            if tok in SEPARATORS:
                if cmd:
                    commands.append((cmd, heredoc))
                cmd = []
            else:
                cmd.append(tok)
    return commands


def _placeholder(token):
    return any(c in token for c in '<>*{}') or '...' in token


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'_doc_tool_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONFIGS = {}


def _config(path):
    from mmvlpuda.utils import load_config
    if path not in _CONFIGS:
        _CONFIGS[path] = load_config(osp.join(REPO_ROOT, path))
    return _CONFIGS[path]


def _has_key(cfg, key):
    node = cfg
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        elif hasattr(node, 'keys') and part in node.keys():
            node = node[part]
        else:
            return False
    return True


def check_tool(tool, argv, where):
    """Parse ``argv`` with tools/<tool>.py's parser; check the config and
    every --cfg-options key."""
    module = _load_tool(tool)
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = [f'tools/{tool}.py'] + argv
    try:
        args = module.parse_args()
    except SystemExit as e:
        raise AssertionError(f'{where}: tools/{tool}.py rejects {argv} '
                             f'(exit {e.code})') from None
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    config = getattr(args, 'config', None)
    if config is None or _placeholder(config) or \
            not config.startswith(('configs/', 'projects/')):
        return
    assert osp.isfile(osp.join(REPO_ROOT, config)), \
        f'{where}: config {config} does not exist'
    cfg = _config(config)
    for key in (getattr(args, 'cfg_options', None) or {}):
        assert _has_key(cfg, key), \
            f'{where}: --cfg-options key `{key}` is not in {config}'
    if getattr(args, 'cfg_options', None):
        from mmvlpuda.utils import load_config
        load_config(osp.join(REPO_ROOT, config), args.cfg_options)


# tools/*.sh -> (tool, function mapping the script's args to the tool's)
SHELL_TOOLS = {
    'dist_train.sh': ('train', lambda a: a[:1] + a[2:]),
    'dist_test.sh': ('test', lambda a: a[:2] + a[3:]),
    'slurm_train.sh': ('train', lambda a: a[2:3] +
                       (['--work-dir', a[3]] if len(a) > 3 else []) + a[4:]),
    'slurm_test.sh': ('test', lambda a: a[2:4] + a[4:]),
}


def check_command(tokens, heredoc, where):
    while tokens and re.match(r'^[A-Za-z_][A-Za-z0-9_]*=', tokens[0]):
        tokens = tokens[1:]  # environment assignments
    assert tokens, where
    for tok in tokens:  # every repository path exists
        value = tok.split('=', 1)[-1] if '=' in tok else tok
        if value.startswith(REPO_DIRS) and not _placeholder(value):
            assert osp.exists(osp.join(REPO_ROOT, value)), \
                f'{where}: {value} does not exist'
    cmd, args = tokens[0], tokens[1:]
    if cmd == 'make':
        makefile = open(osp.join(REPO_ROOT, 'Makefile')).read()
        for target in args:
            assert re.search(rf'^{re.escape(target)}:', makefile, re.M), \
                f'{where}: no Makefile target `{target}`'
    elif cmd in ('python', 'python3') or cmd.endswith('/python'):
        if args[:1] == ['-c']:
            compile(args[1], f'{where} (python -c)', 'exec')
        elif args[:1] == ['-']:
            assert heredoc is not None, f'{where}: python - without heredoc'
            compile(heredoc, f'{where} (python -)', 'exec')
        elif args[:2] == ['-m', 'pytest']:
            for arg in args[2:]:
                if not arg.startswith('-'):
                    assert osp.exists(osp.join(REPO_ROOT, arg)), \
                        f'{where}: {arg} does not exist'
        else:
            script = args[0]
            assert script.endswith('.py') and not script.startswith('-'), \
                f'{where}: unexpected python invocation {tokens}'
            name = osp.splitext(osp.basename(script))[0]
            if script.startswith('tools/') and name in ('train', 'test',
                                                        'export_patch'):
                check_tool(name, args[1:], where)
    elif cmd.endswith('.sh') or cmd == 'bash':
        script = args[0] if cmd == 'bash' else cmd
        script_args = args[1:] if cmd == 'bash' else args
        assert osp.isfile(osp.join(REPO_ROOT, script)), \
            f'{where}: {script} does not exist'
        if osp.basename(script) in SHELL_TOOLS:
            tool, mapping = SHELL_TOOLS[osp.basename(script)]
            check_tool(tool, mapping(script_args), where)
    elif cmd == 'pip':
        setup = open(osp.join(REPO_ROOT, 'setup.py')).read()
        for arg in args:
            m = re.fullmatch(r'\.\[([\w,-]+)\]', arg)
            for extra in (m.group(1).split(',') if m else []):
                assert f"'{extra}':" in setup, \
                    f'{where}: setup.py has no extra `{extra}`'
    elif cmd == 'cat':
        if heredoc is not None and '>' in args:
            target = args[args.index('>') + 1]
            if target.endswith('.py'):
                compile(heredoc, f'{where} ({target})', 'exec')
    else:
        assert cmd in UNCHECKED, (
            f'{where}: command `{cmd}` is neither runnable nor known to '
            'tests/test_docs.py; mark the block runnable or extend the '
            'checker')


# --------------------------------------------------------------------------
# static checks
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    'block', [b for b in ALL_BLOCKS if b.lang in ('bash', 'sh', 'shell')],
    ids=str)
def test_bash_commands_are_valid(block):
    commands = bash_commands(block.code)
    assert commands, f'{block}: empty bash block'
    for tokens, heredoc in commands:
        check_command(tokens, heredoc, str(block))


@pytest.mark.parametrize(
    'block', [b for b in ALL_BLOCKS if b.lang == 'python'], ids=str)
def test_python_blocks_compile(block):
    compile(block.code, str(block), 'exec')


def test_every_block_has_a_language_or_is_not_a_command():
    for block in ALL_BLOCKS:
        if block.runnable:
            assert block.lang in ('bash', 'python'), block
        if not block.lang:  # plain text (trees, tables): no commands
            assert not re.search(r'^\s*(python|make|tools/)', block.code,
                                 re.M), f'{block}: untyped block with ' \
                'commands; use ```bash'


def test_links_and_repository_paths_exist():
    for path in DOC_FILES:
        text = open(path, encoding='utf-8').read()
        here = osp.dirname(path)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if target.startswith(('http://', 'https://', '#', 'mailto:')):
                continue
            target = target.split('#')[0]
            assert osp.exists(osp.join(here, target)), \
                f'{osp.relpath(path, REPO_ROOT)}: broken link {target}'
        prose = re.sub(r'^```.*?^```', '', text, flags=re.M | re.S)
        for ref in re.findall(r'`([\w./-]+)`', prose):
            if not ref.startswith(REPO_DIRS) or _placeholder(ref):
                continue
            assert osp.exists(osp.join(REPO_ROOT, ref)) or \
                osp.exists(osp.join(here, ref)), \
                f'{osp.relpath(path, REPO_ROOT)}: `{ref}` does not exist'


def test_readme_zoo_rows_have_all_their_configs():
    rows = [
        line for line in open(osp.join(REPO_ROOT, 'README.md'))
        if line.startswith('| `configs/cmkd/')
    ]
    assert len(rows) >= 10
    for row in rows:
        name = re.match(r'\| `configs/cmkd/(\w+)\.py`', row).group(1)
        for path in (f'configs/cmkd/{name}.py', f'configs/rst/{name}.py',
                     f'configs/zeroshot/{name}.py',
                     f'configs/cmkd/{name}_fixmatch.py'):
            assert osp.isfile(osp.join(REPO_ROOT, path)), path


def test_readme_commands_match_makefile_and_ci():
    readme = open(osp.join(REPO_ROOT, 'README.md')).read()
    makefile = open(osp.join(REPO_ROOT, 'Makefile')).read()
    ci = open(osp.join(REPO_ROOT, '.ci', 'run')).read()
    blocks = [
        b for b in parse_blocks(osp.join(REPO_ROOT, 'README.md'))
        if b.lang == 'bash'
    ]
    two = [b for b in blocks if 'make demo' in b.code]
    assert two and 'make test' in two[0].code
    assert not two[0].runnable  # recursive / too slow for the doc-test
    for target in ('install', 'test', 'demo', 'mmcv-full'):
        assert re.search(rf'^{target}:', makefile, re.M), target
    test_recipe = re.search(r'^test:.*\n((?:\t.*\n)+)', makefile, re.M)
    assert '-m pytest -q tests' in test_recipe.group(1)
    assert '`make test` runs `python -m pytest -q tests`' in readme
    ci_cmds = [
        line.strip() for line in ci.splitlines()
        if line.strip() and not line.strip().startswith('#')
    ]
    assert ci_cmds[-1] == 'make test', ci_cmds
    assert 'HF_HUB_OFFLINE=1' in ci and 'HF_HUB_OFFLINE := 1' in makefile


REQUIRED = {
    'get_started.md':
    ['make demo', 'make test', RUNNABLE, 'mmcv-lite', 'Install for GPU users'],
    'config_guide.md': [
        '## The grid', '## `_base_` structure', '## Common `--cfg-options`',
        '${key}'
    ],
    'rst_deployment.md': [
        '## File layout', '### Position coding', '### Checksums',
        '### Versioning', 'PatchStore', '## Semantics'
    ],
    'add_dataset.md': ['DomainFolderDataset', 'register_module', 'UDADataset'],
    'add_task.md':
    ['RSTHook', 'CMKDLoss', '_scope_', 'projects/example_new_task'],
    'faq.md': ['## mmcv ops', '## Offline weights', '## torch'],
}


def test_required_pages_and_sections():
    for page, needles in REQUIRED.items():
        text = open(osp.join(REPO_ROOT, 'docs', page), encoding='utf-8').read()
        for needle in needles:
            assert needle in text, f'docs/{page}: missing {needle!r}'
    readme = open(osp.join(REPO_ROOT, 'README.md')).read()
    for section in ('## The two commands', '## Install (GPU users)',
                    '## Train / test', '## Model zoo', '## RST: train, '
                    'export, deploy', '## What is verified where'):
        assert section in readme, section
    # README links every docs page
    for page in REQUIRED:
        assert f'docs/{page}' in readme, page


def test_there_are_runnable_blocks():
    runnable = [b for b in ALL_BLOCKS if b.runnable]
    files = {osp.relpath(b.path, REPO_ROOT) for b in runnable}
    assert {
        'README.md', 'docs/rst_deployment.md', 'docs/config_guide.md',
        'docs/add_dataset.md', 'docs/faq.md'
    } <= files, files
    for block in runnable:  # never the recursive / slow commands
        assert not re.search(r'\bmake (demo|test)\b', block.code), block


# --------------------------------------------------------------------------
# runnable blocks
# --------------------------------------------------------------------------
def _sandbox(tmp_path):
    root = tmp_path / 'repo'
    root.mkdir()
    for entry in os.listdir(REPO_ROOT):
        if entry not in NOT_LINKED:
            os.symlink(osp.join(REPO_ROOT, entry), root / entry)
    env = dict(
        os.environ,
        HF_HUB_OFFLINE='1',
        PYTHONWARNINGS='ignore',
        PYTHONDONTWRITEBYTECODE='1',
        PATH=osp.dirname(sys.executable) + os.pathsep +
        os.environ.get('PATH', ''))
    env.pop('PYTHONPATH', None)
    return str(root), env


RUNNABLE_FILES = sorted({b.path for b in ALL_BLOCKS if b.runnable})


@pytest.mark.parametrize(
    'path', RUNNABLE_FILES, ids=lambda p: osp.relpath(p, REPO_ROOT))
def test_runnable_blocks_run(path, tmp_path):
    cwd, env = _sandbox(tmp_path)
    for block in (b for b in parse_blocks(path) if b.runnable):
        if block.lang == 'bash':
            args = ['bash', '-c', 'set -eo pipefail\n' + block.code]
            stdin = None
        else:
            args, stdin = [sys.executable, '-'], block.code
        res = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900)
        out = res.stdout + res.stderr
        assert res.returncode == 0, f'{block} failed:\n{out[-4000:]}'
