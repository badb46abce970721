"""A chapter's kernel started ahead: its modules loaded, niced while it waits, nothing else changed."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from jupyter_client import BlockingKernelClient

from hoilib.run.kernels import WAITING_NICE, ChapterKernel, preload_modules


def _nice(pid: int) -> set[int]:
    """The niceness of each thread of ``pid`` (field 19 of /proc/<pid>/task/<tid>/stat)."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        out.add(int(stat.rsplit(")", 1)[1].split()[16]))
    return out


def _autogroup_nice(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except FileNotFoundError:  # a Linux without autogroups: the threads' niceness is what counts
        return None


def test_a_kernel_started_ahead_loads_its_modules_niced_and_leaves_no_trace(tmp_path):
    nb = tmp_path / "07_x.ipynb"
    params = nbformat.v4.new_code_cell('profile: str = "smoke"')
    params.metadata["tags"] = ["parameters"]
    cells = [params, nbformat.v4.new_code_cell("import colorsys\nfrom email import message as m")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), nb)
    assert preload_modules(nb) == ["colorsys", "email", "email.message"]

    kernel = ChapterKernel(
        nb, tmp_path / "k.log", tmp_path, env=dict(os.environ), extra_arguments=[]
    )
    pid = kernel.km.provisioner.pid
    try:
        assert _nice(pid) == {WAITING_NICE} and _autogroup_nice(pid) in (WAITING_NICE, None)
        client = BlockingKernelClient()
        client.load_connection_info(kernel.km.get_connection_info())
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            # the preload request reaches the kernel once its socket connects: wait for it (silent
            # requests, like the preload's own, leave the execution count alone)
            for _ in range(300):
                if _loaded(client, "colorsys"):
                    break
            got = []
            reply = _run(
                client,
                "import sys\nprint(sorted(m for m in ('colorsys', 'email.message') if m in sys.modules),"
                " [n for n in dir() if 'preload' in n])",
                got,
            )
            # loaded, no name left in the namespace, and the first cell still counts as cell 1
            assert reply == {"status": "ok", "execution_count": 1}
            assert got == ["['colorsys', 'email.message'] []\n"]
            kernel.begin()
            mine = os.getpriority(os.PRIO_PROCESS, 0)
            # lowering niceness takes privileges: without them the chapter runs niced (not refused)
            expect = mine if os.geteuid() == 0 else WAITING_NICE
            assert _nice(pid) == {expect} and _autogroup_nice(pid) in (expect, None)
        finally:
            client.stop_channels()
    finally:
        kernel.shutdown()
    assert (
        not os.path.exists(f"/proc/{pid}")
        or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def _loaded(client, module: str) -> bool:
    probe = {"x": f"{module!r} in __import__('sys').modules"}
    msg_id = client.execute("", silent=True, user_expressions=probe)
    while True:
        reply = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["user_expressions"]["x"]["data"]["text/plain"] == "True"


def _run(client, code: str, out: list) -> dict:
    def keep(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = client.execute_interactive(code, output_hook=keep, timeout=60)
    return {k: reply["content"][k] for k in ("status", "execution_count")}
