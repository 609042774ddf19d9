"""The package as installed from its wheel, outside a checkout: it finds the shipped episodes,
prompts and eval questions inside itself and keeps its index in the per-user data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_the_installed_wheel_answers_with_no_checkout_around_it(tmp_path: Path) -> None:
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")]
    subprocess.run(
        [sys.executable, "-m", "pip", *build, str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("episode_assistant-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EPISODE_ASSISTANT_", "OPENAI_", "XDG_"))
    }
    env |= {"PYTHONPATH": str(site), "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    code = (
        "import json, assistant\n"
        "from assistant import Assistant\n"
        "from evals.dataset import load_pairs\n"
        "bot = Assistant(answerer='offline')\n"
        'answer = bot.ask("What did Seonghyun say about MoE\'s compute multiplier?")\n'
        "print(json.dumps({'file': assistant.__file__, 'index': str(bot.settings.index.dir),\n"
        "    'prompts': sorted(p.name for p in bot.settings.llm.prompts_dir.iterdir()),\n"
        "    'timestamp': answer.citations[0].timestamp, 'questions': len(load_pairs())}))\n"
    )
    # Run from an empty folder: nothing of the checkout (or a .env) is in reach.
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["file"].startswith(str(site))
    assert seen["index"] == str(home / "data" / "episode-assistant" / "index")
    assert (home / "data" / "episode-assistant" / "index").is_dir()
    assert "system.txt" in seen["prompts"]
    assert seen["timestamp"] == "04:34" and seen["questions"] > 100
