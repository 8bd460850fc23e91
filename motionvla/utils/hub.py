"""A local folder or a Hugging Face Hub id, wherever a command takes a checkpoint.

``huggingface_hub.snapshot_download`` does the work: online it downloads (or reuses the cache), with
``HF_HUB_OFFLINE=1`` it resolves the id from the cache only. What this adds is one clear line when it cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

from motionvla.errors import UserError

# owner/name as the Hub spells repository ids (letters, digits, "-", "_", "."), optionally "@revision".
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def is_hub_id(text: str) -> bool:
    """``owner/name`` (or ``owner/name@revision``) that is not an existing local path."""
    return bool(HUB_ID.match(text)) and not Path(text).exists()


def local_or_hub(path_or_id: str | Path, what: str = "checkpoint", option: str = "") -> Path:
    """``path_or_id`` if it is a local path, else the local snapshot of that Hub model repository.

    Args:
        what: what the folder holds, for messages ("policy checkpoint", "forecaster").
        option: the option the user typed (e.g. ``--policy``), named in messages.

    Raises:
        UserError: neither a local path nor a resolvable Hub id; offline, an id that is not in the cache names
            ``HF_HUB_OFFLINE`` and the cache folder.
    """
    text = str(path_or_id)
    if Path(text).exists() or not HUB_ID.match(text):
        return Path(text)
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    repo_id, _, revision = text.partition("@")
    label = f"{option}={text}" if option else text
    try:
        return Path(snapshot_download(repo_id, revision=revision or None))
    except LocalEntryNotFoundError as exc:
        if constants.HF_HUB_OFFLINE:
            raise UserError(f"{label}: no local folder of that name, and the Hub {what} {repo_id!r} is not in the "
                            f"cache ({constants.HF_HUB_CACHE}) while HF_HUB_OFFLINE=1: download it once online "
                            f"(unset HF_HUB_OFFLINE) or give a folder") from exc
        raise UserError(f"{label}: no local folder of that name, and the Hub {what} {repo_id!r} could not be "
                        f"downloaded ({str(exc).splitlines()[0]})") from exc
    except RepositoryNotFoundError as exc:
        raise UserError(f"{label}: no local folder of that name and no Hub repository {repo_id!r} "
                        f"(private? log in with `hf auth login`)") from exc
    except HfHubHTTPError as exc:
        raise UserError(f"{label}: the Hub {what} {repo_id!r} could not be downloaded "
                        f"({str(exc).splitlines()[0]})") from exc
