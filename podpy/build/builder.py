"""Executing a parsed Containerfile: stages, steps, the layer cache and the final image.

Each stage starts from its FROM (an image, ``scratch`` or an earlier stage) and carries a state:
layers (base first), the image config, history, the ARGs in scope and a cache key. Every step
after FROM yields a new state; with ``--layers`` (the default) that state is committed as an
unnamed intermediate image (as Podman does) and remembered under the step's cache key:

    key = sha256(parent key, the instruction as written, its expanded arguments, the ARG values a
                 RUN sees, and for COPY/ADD the content hash of every file it copies)

so a step is reused only when its instruction, its inputs and everything before it are the same.
``--no-cache`` skips lookups (results are still recorded). RUN, COPY and ADD run in a working
overlay (``engine.build_step.WorkRoot``) whose changes become the step's layer; metadata steps add
an ``empty_layer`` history entry. Names are given only after the whole build succeeded, so a
failed build leaves nothing tagged. Output follows ``podman build`` (``STEP n/m: …``,
``--> Using cache …``, ``COMMIT name``, ``--> id``, ``Successfully tagged …``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.build.context import Context, Source, find_sources, hash_sources
from podpy.build.parser import Containerfile, Instruction, ParseError, parse
from podpy.build.words import Lexer
from podpy.engine import build_step as eng
from podpy.util.errors import PodpyError, UsageError
from podpy.util.paths import Paths

DEFAULT_SHELL = ["/bin/sh", "-c"]
HEREDOC_DIR = "/run/podpy-heredoc"  # where a ``RUN <<EOF`` script with a ``#!`` line is bound in
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip


@dataclass
class BuildOptions:
    """What ``podpy build`` was asked (the CLI fills it; defaults are Podman's)."""

    containerfile: str  # its text
    containerfile_name: str  # for messages: the path as given
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    layers: bool = True
    pull: str = "missing"
    pull_kwargs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    fmt: str = "oci"
    quiet: bool = False
    squash: bool = False
    secrets: dict[str, str] = field(default_factory=dict)  # id -> host file
    network: str = "host"
    env: dict[str, str] = field(default_factory=dict)
    platform: Any = None  # podpy.spec.platform.Platform or None
    storage_driver: str | None = None  # the global --storage-driver


@dataclass
class State:
    """A stage's image as built so far."""

    layers: list[Any]  # LayerRecord, base first
    doc: dict[str, Any]  # the image config document minus rootfs (config, history, os, architecture, …)
    key: str
    image_id: str | None  # an image holding exactly this state (None: not committed)
    args: dict[str, str] = field(default_factory=dict)
    base_layers: int = 0
    cmd_from_base: bool = True

    @property
    def config(self) -> dict[str, Any]:
        return self.doc.setdefault("config", {})

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        env = self.env()
        env[key] = value
        self.config["Env"] = [f"{k}={v}" for k, v in env.items()]


@dataclass
class Stage:
    index: int
    name: str | None
    from_ins: Instruction
    steps: list[Instruction]


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> str:
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 10**9)) + f".{t % 10**9:09d}Z"


def _go_duration(text: str, what: str) -> int:
    """``30s``, ``1m30s``, ``500ms`` as nanoseconds (HEALTHCHECK flags)."""
    units = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    if re.fullmatch(r"\d+", text):
        return int(text) * 10**9
    total = 0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * units[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise UsageError(f'invalid {what} "{text}": time: invalid duration')
    return total


class Builder:
    """One ``podpy build`` run (see the module docstring)."""

    def __init__(self, paths: Paths, opts: BuildOptions, ctx: Context,
                 out: Callable[[str], None] = print) -> None:  # fmt: skip
        self.paths = paths
        self.opts = opts
        self.ctx = ctx
        self._out = out
        self.cf: Containerfile = parse(opts.containerfile, opts.containerfile_name)
        self.lexer = Lexer(self.cf.escape)
        self.stages: list[Stage] = []
        self.global_args: dict[str, str] = {}
        self.results: dict[int, State] = {}
        self.used_args: set[str] = set()
        self._split_stages()

    # -- output --------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        if not self.opts.quiet:
            self._out(line)

    # -- structure -----------------------------------------------------------------------------
    def _split_stages(self) -> None:
        cur: Stage | None = None
        for ins in self.cf.instructions:
            if ins.cmd == "FROM":
                words = ins.rest.split()
                name = words[2].lower() if len(words) == 3 else None
                cur = Stage(len(self.stages), name, ins, [])
                self.stages.append(cur)
            elif cur is None:
                if ins.cmd != "ARG":
                    raise ins.error(f"{ins.cmd} before the first FROM: only ARG may come before FROM")
                for key, val in self._arg_pairs(ins, dict(self.global_args)):
                    self.used_args.add(key)
                    if key in self.opts.build_args:
                        self.global_args[key] = self.opts.build_args[key]
                    elif val is not None:
                        self.global_args[key] = val
            else:
                cur.steps.append(ins)
        if not self.stages:
            raise ParseError(
                f"{self.opts.containerfile_name}: no FROM instruction: a Containerfile must have one"
            )
        if self.opts.target:
            names = [s.name for s in self.stages]
            if self.opts.target.lower() not in names:
                raise UsageError(
                    f'the target "{self.opts.target}" was not found in the provided Containerfile'
                )
            self.stages = self.stages[: names.index(self.opts.target.lower()) + 1]

    def _arg_pairs(self, ins: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for raw in self.lexer.split_raw(ins.rest):
            key, eq, val = raw.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ins.error(f"invalid ARG name {key!r}")
            out.append((key, self._word(ins, val, env) if eq else None))
        return out

    def _word(self, ins: Instruction, text: str, env: dict[str, str]) -> str:
        try:
            return self.lexer.word(text, env)
        except UsageError as e:
            raise ins.error(e.message) from None

    def _words(self, ins: Instruction, text: str, env: dict[str, str]) -> list[str]:
        try:
            return self.lexer.words(text, env)
        except UsageError as e:
            raise ins.error(e.message) from None

    # -- the build -----------------------------------------------------------------------------
    def build(self) -> str:
        """Run every stage; returns the final image's id (tagged with ``opts.tags``)."""
        eng.use_storage(self.opts.storage_driver)
        eng.clean_leftovers(self.paths)
        with eng.open_store(self.paths).session():  # layers made but not yet in an image stay safe from gc
            return self._build()

    def _build(self) -> str:
        multi = len(self.stages) > 1
        final: State | None = None
        for stage in self.stages:
            prefix = f"[{stage.index + 1}/{len(self.stages)}] " if multi else ""
            last = stage is self.stages[-1]
            final = self._stage(stage, prefix, last)
            self.results[stage.index] = final
        assert final is not None
        unused = sorted(k for k in self.opts.build_args if k not in self.used_args and k not in PROXY_ARGS)
        if unused:
            import sys

            print(
                f"[Warning] one or more build args were not consumed: [{' '.join(unused)}]", file=sys.stderr
            )
        image_id = self._finish(final)
        names = eng.tag(self.paths, image_id, self.opts.tags) if self.opts.tags else []
        for n in names:
            self.say(f"Successfully tagged {n}")
        return image_id

    def _finish(self, st: State) -> str:
        """The final image: the last step's image, or a new commit for --label/--squash/--layers=false."""
        extra = bool(self.opts.labels or self.opts.annotations or self.opts.squash)
        self.say(f"COMMIT {self.opts.tags[0]}" if self.opts.tags else "COMMIT")
        if extra or st.image_id is None:
            doc = copy.deepcopy(st.doc)
            if self.opts.labels:
                labels = dict(doc.setdefault("config", {}).get("Labels") or {})
                labels.update(self.opts.labels)
                doc["config"]["Labels"] = labels
            layers = list(st.layers)
            if self.opts.squash and len(layers) > st.base_layers:
                base = layers[: st.base_layers]
                new = eng.squash_layers(self.paths, [la.diff_id for la in base],
                                        [la.diff_id for la in layers[st.base_layers:]], self.opts.fmt)  # fmt: skip
                hist = [h for h in doc.get("history") or []]
                kept, seen = [], 0
                for h in hist:
                    if not h.get("empty_layer"):
                        seen += 1
                        if seen > st.base_layers:
                            continue
                    kept.append(h)
                kept.append({"created": _now(), "created_by": "/bin/sh -c #(nop) squashed build layers"})
                doc["history"] = kept
                layers = [*base, new]
            doc["created"] = _now()
            image_id = self._commit(layers, doc, annotations=self.opts.annotations)
        else:
            image_id = str(st.image_id)
        self.say(f"--> {image_id[:11]}")
        return image_id

    def _commit(
        self, layers: list[Any], doc: dict[str, Any], annotations: dict[str, str] | None = None
    ) -> str:
        full = dict(doc)
        full["rootfs"] = {"type": "layers", "diff_ids": [la.diff_id for la in layers]}
        return eng.commit_image(self.paths, layers, full, self.opts.fmt, annotations=annotations)

    # -- a stage -------------------------------------------------------------------------------
    def _stage(self, stage: Stage, prefix: str, last: bool) -> State:
        total = len(stage.steps) + 1
        self.say(f"{prefix}STEP 1/{total}: {stage.from_ins.original}")
        st = self._from(stage)
        for i, ins in enumerate(stage.steps, start=2):
            self.say(f"{prefix}STEP {i}/{total}: {ins.original}")
            st = self._step(st, ins, stage)
            if self.opts.layers and st.image_id and not (last and i == total):
                self.say(f"--> {st.image_id[:11]}")
        return st

    def _from(self, stage: Stage) -> State:
        ins = stage.from_ins
        words = ins.rest.split()
        env = dict(self.global_args)
        image = self._word(ins, words[0], env)
        plat = ins.flag("platform")
        if plat:
            self._check_platform(ins, self._word(ins, plat, {**env, **_platform_args()}))
        if not image:
            raise ins.error(f"FROM {words[0]}: the image name is empty (an unset ARG?)")
        prior = self._stage_ref(image)
        if prior is not None:
            base = copy.deepcopy(prior)
            st = State(list(base.layers), base.doc, _sha("stage", base.key), base.image_id,
                       base_layers=len(base.layers))  # fmt: skip
        elif image == "scratch":
            doc = {"architecture": _host_arch(), "os": "linux", "config": {}, "history": []}
            st = State([], doc, _sha("scratch", self.opts.fmt), None)
        else:
            rec, cfg = self._image(ins, image)
            doc = {k: v for k, v in cfg.items() if k != "rootfs"}
            doc.setdefault("config", {})
            doc.setdefault("history", [])
            st = State(list(rec.layers), doc, _sha("image", rec.id, self.opts.fmt), rec.id,
                       base_layers=len(rec.layers))  # fmt: skip
        st.doc.pop("created", None)
        st.args = {}
        st.cmd_from_base = True
        if not st.config.get("Env") and image != "scratch":
            st.config["Env"] = [DEFAULT_PATH]
            st.image_id = None
        for k, v in self.opts.env.items():
            st.set_env(k, v)
        if self.opts.env:
            st.key = _sha(st.key, "env", self.opts.env)
            st.image_id = None
        triggers = list(st.config.pop("OnBuild", None) or [])
        if triggers:
            st.image_id = None
            from podpy.build.parser import parse_onbuild

            for t in triggers:
                fake = Instruction("ONBUILD", str(t), f"ONBUILD {t}", ins.line, ins.file)
                st = self._step(st, parse_onbuild(fake), stage)
        return st

    def _check_platform(self, ins: Instruction, value: str) -> None:
        from podpy.spec.platform import host_platform, parse_platform

        try:
            want = parse_platform(value)
        except UsageError as e:
            raise ins.error(e.message) from None
        if not host_platform().matches(want.normalized()):
            raise ins.error(
                f"building for platform {value} is not supported: only the host's ({host_platform()})"
            )

    def _stage_ref(self, name: str) -> State | None:
        for s in self.stages:
            if s.index in self.results and (s.name == name.lower() or str(s.index) == name):
                return self.results[s.index]
        return None

    def _image(self, ins: Instruction, name: str) -> tuple[Any, dict[str, Any]]:
        try:
            return eng.base_image(self.paths, name, self.opts.pull, self.opts.pull_kwargs)
        except PodpyError as e:
            raise PodpyError(f"creating build container: {e.message}", e.exit_code) from None

    # -- one step ------------------------------------------------------------------------------
    def _expand_env(self, st: State) -> dict[str, str]:
        return {**st.args, **st.env()}

    def _step(self, st: State, ins: Instruction, stage: Stage) -> State:
        try:
            return self._step_in(st, ins, stage)
        except (ParseError, eng.StepFailed):
            raise
        except PodpyError as e:
            if e.message.startswith("building at STEP"):
                raise
            raise PodpyError(f'building at STEP "{ins.original}": {e.message}', e.exit_code) from None

    def _step_in(self, st: State, ins: Instruction, stage: Stage) -> State:
        if ins.cmd == "ARG":
            return self._arg(st, ins)
        if ins.cmd == "FROM":
            raise ins.error("FROM is not allowed here")
        if ins.cmd in ("RUN", "COPY", "ADD"):
            return self._layer_step(st, ins)
        new = copy.deepcopy(st)
        created_by = self._metadata(new, ins)
        key = _sha(st.key, ins.original, new.doc.get("config"), new.doc.get("author"))
        wd = new.config.get("WorkingDir") or "/"
        if ins.cmd == "WORKDIR" and not eng.exists_in_layers(
            self.paths, [la.diff_id for la in st.layers], wd
        ):
            # a WORKDIR that does not exist yet is created, in a layer of its own (as Docker does)
            def run() -> Any:
                with eng.WorkRoot(self.paths, [la.diff_id for la in st.layers]) as wr:
                    eng.make_dir(str(wr.path), wd)
                    return wr.commit_layer(self.opts.fmt)

            return self._record(st, new, key, {"created_by": created_by}, run)
        return self._record(st, new, key, {"created_by": created_by, "empty_layer": True}, None)

    def _record(
        self, st: State, new: State, key: str, hist: dict[str, Any], run: Callable[[], Any] | None
    ) -> State:
        """Reuse the cached image for ``key`` or make the step's result (``run`` gives its layer)."""
        new.key = key
        if self.opts.layers and not self.opts.no_cache:
            hit = eng.cache_get(self.paths, key)
            if hit is not None:
                rec, cfg = hit
                self.say(f"--> Using cache {rec.id}")
                doc = {k: v for k, v in cfg.items() if k not in ("rootfs", "created")}
                return State(list(rec.layers), doc, key, rec.id, new.args, st.base_layers, new.cmd_from_base)
        if run is not None:
            new.layers = [*new.layers, run()]
        entry = {"created": _now(), **hist}
        new.doc["history"] = [*(new.doc.get("history") or []), entry]
        if self.opts.layers:
            doc = dict(new.doc)
            doc["created"] = entry["created"]
            new.image_id = self._commit(new.layers, doc)
            eng.cache_put(self.paths, key, new.image_id)
        else:
            new.image_id = None
        return new

    def _arg(self, st: State, ins: Instruction) -> State:
        new = copy.deepcopy(st)
        env = self._expand_env(st)
        for key, val in self._arg_pairs(ins, env):
            self.used_args.add(key)
            if key in self.opts.build_args:
                new.args[key] = self.opts.build_args[key]
            elif val is not None:
                new.args[key] = val
            elif key in self.global_args:
                new.args[key] = self.global_args[key]
            elif key in _platform_args():
                new.args[key] = _platform_args()[key]
        new.key = _sha(st.key, "ARG", new.args)
        return new

    # -- metadata instructions -----------------------------------------------------------------
    def _metadata(self, st: State, ins: Instruction) -> str:
        env = self._expand_env(st)
        cfg = st.config
        nop = f"/bin/sh -c #(nop) {ins.cmd} {ins.rest}".rstrip()
        c = ins.cmd
        if c == "ENV":
            for k, v in self._pairs(ins, env, legacy=True):
                st.set_env(k, v)
        elif c == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            for k, v in self._pairs(ins, env, legacy=False):
                labels[k] = v
            cfg["Labels"] = labels
        elif c == "MAINTAINER":
            st.doc["author"] = ins.rest
        elif c == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for w in self._words(ins, ins.rest, env):
                for p in _ports(ins, w):
                    ports[p] = {}
            cfg["ExposedPorts"] = ports
        elif c == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            items = ins.json if ins.json is not None else self._words(ins, ins.rest, env)
            for v in items:
                v = self._word(ins, v, env) if ins.json is not None else v
                if not v.strip():
                    raise ins.error("VOLUME specified can not be an empty string")
                vols[v] = {}
            cfg["Volumes"] = vols
        elif c == "USER":
            cfg["User"] = self._word(ins, ins.rest, env)
        elif c == "WORKDIR":
            wd = self._word(ins, ins.rest, env)
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", wd))
        elif c in ("CMD", "ENTRYPOINT"):
            argv = ins.json if ins.json is not None else [*self._shell(st), ins.rest]
            if c == "CMD":
                cfg["Cmd"] = argv
                st.cmd_from_base = False
            else:
                cfg["Entrypoint"] = argv
                if st.cmd_from_base:
                    cfg.pop("Cmd", None)  # an inherited CMD is reset by ENTRYPOINT (as Docker)
        elif c == "SHELL":
            if not ins.json:
                raise ins.error("SHELL requires the arguments to be in JSON form")
            cfg["Shell"] = ins.json
        elif c == "STOPSIGNAL":
            cfg["StopSignal"] = self._word(ins, ins.rest, env)
        elif c == "HEALTHCHECK":
            cfg["Healthcheck"] = self._healthcheck(ins)
        elif c == "ONBUILD":
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.rest]
        return nop

    def _pairs(self, ins: Instruction, env: dict[str, str], legacy: bool) -> list[tuple[str, str]]:
        raw = self.lexer.split_raw(ins.rest)
        if legacy and raw and "=" not in raw[0]:
            if len(raw) < 2:
                raise ins.error(f"{ins.cmd} {raw[0]}: a value is needed (use {ins.cmd} KEY=VALUE)")
            value = ins.rest.split(None, 1)[1]
            return [(raw[0], self._word(ins, value, env))]
        out = []
        for item in raw:
            k, eq, v = item.partition("=")
            if not eq or not k:
                raise ins.error(f"{ins.cmd} {item!r}: use KEY=VALUE")
            out.append((self._word(ins, k, env), self._word(ins, v, env)))
        return out

    def _healthcheck(self, ins: Instruction) -> dict[str, Any]:
        kind, _, cmd = ins.rest.partition(" ")
        if kind.upper() == "NONE":
            return {"Test": ["NONE"]}
        cmd = cmd.strip()
        try:
            argv = json.loads(cmd) if cmd.startswith("[") else None
        except ValueError:
            argv = None
        hc: dict[str, Any] = {"Test": ["CMD", *argv] if isinstance(argv, list) else ["CMD-SHELL", cmd]}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                          ("start-interval", "StartInterval")):  # fmt: skip
            v = ins.flag(flag)
            if v is not None:
                hc[key] = _go_duration(v, f"--{flag}")
        r = ins.flag("retries")
        if r is not None:
            if not r.isdigit() or int(r) < 1:
                raise ins.error(f"--retries {r!r}: must be a number of at least 1")
            hc["Retries"] = int(r)
        return hc

    def _shell(self, st: State) -> list[str]:
        return list(st.config.get("Shell") or DEFAULT_SHELL)

    # -- layer instructions --------------------------------------------------------------------
    def _layer_step(self, st: State, ins: Instruction) -> State:
        new = copy.deepcopy(st)
        if ins.cmd == "RUN":
            return self._run(st, new, ins)
        return self._copy(st, new, ins)

    def _run_argv(self, st: State, ins: Instruction) -> list[str]:
        if ins.json is not None:
            return list(ins.json)
        text = ins.rest
        if ins.heredocs:
            bare = re.fullmatch(r"<<-?[\"']?[A-Za-z0-9_.\-]+[\"']?", text.strip())
            if bare and len(ins.heredocs) == 1:
                doc = ins.heredocs[0]
                if doc.content.startswith("#!"):  # a script with its own interpreter: run as a file
                    return [f"{HEREDOC_DIR}/{doc.name}"]
                return [*self._shell(st), doc.content]
            text = text + "\n" + "".join(f"{h.content}{h.name}\n" for h in ins.heredocs)
        return [*self._shell(st), text]

    def _run(self, st: State, new: State, ins: Instruction) -> State:
        from podpy.spec.container import Mount

        argv = self._run_argv(st, ins)
        env = st.env()
        run_env = {**{k: v for k, v in st.args.items() if k not in env}, **env}
        for k in PROXY_ARGS:
            if k in self.opts.build_args and k not in run_env:
                run_env[k] = self.opts.build_args[k]
        network = ins.flag("network") or self.opts.network
        if network not in ("host", "none", "default"):
            raise ins.error(
                f"RUN --network={network}: podpy build runs steps with host or none networking only"
            )
        if network == "default":
            network = self.opts.network
        if ins.flag("security") not in (None, "sandbox"):
            raise ins.error("RUN --security=insecure is not supported rootless")
        mounts_spec = ins.flag_values("mount")
        mounted = self._mount_inputs(ins, st, mounts_spec)
        docs = [h.content for h in ins.heredocs]
        key = _sha(st.key, ins.original, argv, docs, run_env, mounts_spec, mounted, network)
        if ins.json is not None:
            created_by = " ".join(argv)
        else:
            created_by = " ".join([*self._shell(st), ins.rest])

        def run() -> Any:
            with eng.WorkRoot(self.paths, [la.diff_id for la in st.layers]) as wr:
                mounts, cleanup = self._run_mounts(ins, st, mounts_spec)
                if argv[0].startswith(HEREDOC_DIR + "/"):
                    script = eng.private_file(self.paths, ins.heredocs[0].content.encode(), 0o755)
                    cleanup.append(lambda: eng.remove_private(script))
                    mounts.append(Mount("bind", argv[0], script, ("bind", "ro", "rprivate")))
                try:
                    code = wr.run(argv, image_cfg=st.config, env=run_env, user=st.config.get("User") or "",
                                  workdir=st.config.get("WorkingDir") or "/", network=network, mounts=mounts,
                                  quiet=self.opts.quiet)  # fmt: skip
                finally:
                    for c in cleanup:
                        c()
                if code != 0:
                    raise eng.StepFailed(
                        f'building at STEP "{ins.original}": while running runtime: exit status {code}', code
                    )
                return wr.commit_layer(self.opts.fmt)

        return self._record(st, new, key, {"created_by": created_by}, run)

    def _mount_opts(self, ins: Instruction, st: State, spec: str) -> dict[str, str]:
        opts: dict[str, str] = {}
        env = self._expand_env(st)
        for part in spec.split(","):
            k, eq, v = part.partition("=")
            opts[k.strip().lower()] = self._word(ins, v, env) if eq else "true"
        return opts

    def _mount_inputs(self, ins: Instruction, st: State, specs: list[str]) -> list[str]:
        """What bind mounts bring in, for the RUN's cache key: the context files' content hash, or
        the stage/image they come from."""
        out = []
        for spec in specs:
            opts = self._mount_opts(ins, st, spec)
            if opts.get("type", "bind") != "bind":
                continue
            frm = opts.get("from")
            source = opts.get("source", opts.get("src", "/" if frm else "."))
            if frm is None:
                root = str(self.ctx.root)
                out.append(hash_sources(find_sources(root, source, self.ctx.rules, root)))
            else:
                prior = self._stage_ref(frm)
                out.append(prior.key if prior is not None else "image:" + self._image(ins, frm)[0].id)
        return out

    def _run_mounts(
        self, ins: Instruction, st: State, specs: list[str]
    ) -> tuple[list[Any], list[Callable[[], None]]]:
        from podpy.spec.container import Mount

        mounts: list[Mount] = []
        cleanup: list[Callable[[], None]] = []
        for spec in specs:
            opts = self._mount_opts(ins, st, spec)
            typ = opts.pop("type", "bind")
            target = opts.pop("target", opts.pop("dst", opts.pop("destination", "")))
            if target and not target.startswith("/"):
                target = posixpath.join(st.config.get("WorkingDir") or "/", target)
            ro = opts.get("ro", opts.get("readonly")) in ("true", "")
            uid, gid = int(opts.get("uid", "0")), int(opts.get("gid", "0"))
            if typ == "secret":
                sid = opts.get("id") or (posixpath.basename(target) if target else "")
                target = target or f"/run/secrets/{sid}"
                src = self.opts.secrets.get(sid)
                if src is None:
                    if opts.get("required") == "true":
                        raise ins.error(f"secret {sid!r} is required: pass --secret id={sid},src=FILE")
                    continue
                copy_path = eng.private_copy(self.paths, src, uid, gid, int(opts.get("mode", "0400"), 8))
                cleanup.append(lambda p=copy_path: eng.remove_private(p))
                mounts.append(Mount("bind", target, copy_path, ("bind", "ro", "rprivate")))
            elif typ == "cache":
                if not target:
                    raise ins.error("RUN --mount=type=cache needs a target")
                if "from" in opts:
                    raise ins.error("RUN --mount=type=cache,from=… is not supported")
                ident = opts.get("id") or target
                d = eng.cache_mount_dir(self.paths, ident, uid, gid, int(opts.get("mode", "0755"), 8))
                mounts.append(Mount("bind", target, d, ("bind", "ro" if ro else "rw", "rprivate")))
            elif typ == "tmpfs":
                if not target:
                    raise ins.error("RUN --mount=type=tmpfs needs a target")
                size = opts.get("size") or opts.get("tmpfs-size")
                mounts.append(
                    Mount(
                        "tmpfs",
                        target,
                        "tmpfs",
                        tuple(["rw", "nosuid", "nodev", *([f"size={size}"] if size else [])]),
                    )
                )
            elif typ == "bind":
                if not target:
                    raise ins.error("RUN --mount=type=bind needs a target")
                source = opts.get("source", opts.get("src", "/" if "from" in opts else "."))
                rw = opts.get("rw", opts.get("readwrite")) in ("true", "")
                host, close = self._bind_source(ins, opts.get("from"), source)
                if close is not None:
                    cleanup.append(close)
                if rw:
                    host = eng.private_copy(self.paths, host)
                    cleanup.insert(0, lambda p=host: eng.remove_private(p))
                mounts.append(Mount("bind", target, host, ("bind", "rw" if rw else "ro", "rprivate")))
            else:
                raise ins.error(f"RUN --mount=type={typ} is not supported (use bind, cache, secret or tmpfs)")
        return mounts, cleanup

    def _bind_source(
        self, ins: Instruction, frm: str | None, source: str
    ) -> tuple[str, Callable[[], None] | None]:
        if frm is None:
            srcs = find_sources(str(self.ctx.root), source, self.ctx.rules, str(self.ctx.root))
            return srcs[0].host, None
        wr = self._from_root(ins, frm)
        return eng.resolve_in(str(wr.path), source), wr.close

    def _from_root(self, ins: Instruction, frm: str) -> eng.WorkRoot:
        """A rootfs of a stage or an image (``COPY --from``, ``RUN --mount=from=``)."""
        prior = self._stage_ref(frm)
        if prior is not None:
            layers = [la.diff_id for la in prior.layers]
        elif any(s.name == frm.lower() for s in self.stages):
            raise ins.error(f"stage {frm!r} is not built yet: it must come before this step")
        else:
            rec, _cfg = self._image(ins, frm)
            layers = [la.diff_id for la in rec.layers]
        wr = eng.WorkRoot(self.paths, layers)
        wr.source_key = prior.key if prior is not None else f"image:{rec.id}"
        return wr

    # -- COPY / ADD ----------------------------------------------------------------------------
    def _copy(self, st: State, new: State, ins: Instruction) -> State:
        env = self._expand_env(st)
        if ins.json is not None:
            args = [self._word(ins, a, env) for a in ins.json]
        else:
            args = self._words(ins, ins.rest, env)
        docs = {f"<<{'-' if h.chomp else ''}{h.name}": h for h in ins.heredocs}
        srcs, dest = args[:-1], args[-1]
        if not srcs:
            raise ins.error(f"{ins.cmd} requires at least two arguments")
        wd = st.config.get("WorkingDir") or "/"
        dest_abs = dest if dest.startswith("/") else posixpath.join(wd, dest)
        to_dir = dest.endswith("/") or dest in (".", "./") or len(srcs) > 1
        frm = ins.flag("from")
        if frm is not None and ins.cmd == "ADD":
            raise ins.error("ADD does not take --from: use COPY --from")
        frm = self._word(ins, frm, env) if frm else None
        chown = ins.flag("chown")
        chmod = ins.flag("chmod")
        mode = None
        if chmod:
            if not re.fullmatch(r"[0-7]{3,4}", chmod):
                raise ins.error(f"--chmod={chmod}: use an octal mode like 0755")
            mode = int(chmod, 8)
        checksum = ins.flag("checksum")
        src_root: eng.WorkRoot | None = None
        try:
            if frm is not None:
                src_root = self._from_root(ins, frm)
            root = str(src_root.path) if src_root else str(self.ctx.root)
            where = f"/{frm}" if frm else str(self.ctx.root)
            found: list[tuple[str, Any]] = []  # ("doc", Heredoc) | ("url", url) | ("src", Source)
            for s in srcs:
                if s in docs:
                    h = docs[s]
                    found.append(("doc", h))
                elif ins.cmd == "ADD" and re.match(r"^(https?)://", s):
                    found.append(("url", s))
                elif re.match(r"^[a-z]+://|^git@", s):
                    raise ins.error(f"{ins.cmd} {s}: this kind of source is not supported")
                else:
                    for src in find_sources(
                        root, s, None if frm else self.ctx.rules, where, in_root=frm is not None
                    ):
                        found.append(("src", src))
            if len(found) > 1:
                to_dir = True
            inputs = []
            for kind, v in found:
                if kind == "src":
                    inputs.append(("src", v.rel, hash_sources([v])))
                elif kind == "doc":
                    content = self.lexer.expand(v.content, env) if v.expand else v.content
                    inputs.append(("doc", v.name, content))
                else:
                    inputs.append(("url", v, checksum))
            key = _sha(st.key, ins.cmd, ins.flags, inputs, dest_abs, to_dir,
                       src_root.source_key if src_root else "")  # fmt: skip
            digest = _sha(inputs)
            what = (
                "multi"
                if len(found) > 1
                else "dir"
                if found[0][0] == "src" and found[0][1].is_dir
                else "file"
            )
            created_by = f"/bin/sh -c #(nop) {ins.cmd} {what}:{digest} in {dest_abs} "

            def run() -> Any:
                with eng.WorkRoot(self.paths, [la.diff_id for la in st.layers]) as wr:
                    self._do_copy(wr, ins, found, env, dest_abs, to_dir, chown, mode, checksum)
                    return wr.commit_layer(self.opts.fmt)

            return self._record(st, new, key, {"created_by": created_by}, run)
        finally:
            if src_root is not None:
                src_root.close()

    def _do_copy(self, wr: eng.WorkRoot, ins: Instruction, found: list[tuple[str, Any]], env: dict[str, str],
                 dest: str, to_dir: bool, chown: str | None, mode: int | None, checksum: str | None) -> None:  # fmt: skip
        root = str(wr.path)
        # COPY --from keeps the owners of the stage's files (as Buildah); the context's become root's
        owner = eng.resolve_owner(root, chown) if chown else (None if ins.flag("from") else (0, 0))
        if not to_dir and eng.is_dir_in(root, dest):
            to_dir = True
        for kind, v in found:
            if kind == "doc":
                content = self.lexer.expand(v.content, env) if v.expand else v.content
                target = posixpath.join(dest, v.name) if to_dir else dest
                eng.write_file(root, target, content.encode(), owner, mode if mode is not None else 0o644)
            elif kind == "url":
                data, name = _download(ins, v, checksum)
                target = posixpath.join(dest, name) if to_dir else dest
                eng.write_file(root, target, data, owner, mode if mode is not None else 0o600)
            else:
                src: Source = v
                if ins.cmd == "ADD" and not src.is_dir and _is_archive(src.host):
                    eng.extract_archive(root, dest, src.host, owner if chown else None)
                    continue
                if src.is_dir:
                    items = [(os.path.join(src.host, e), posixpath.join(dest, e)) for e in src.entries]
                    if not items:
                        from podpy.runtime.rootpath import mkdir_in_root

                        mkdir_in_root(root, dest)
                else:
                    name = posixpath.basename(src.rel) or os.path.basename(src.host)
                    items = [(src.host, posixpath.join(dest, name) if to_dir else dest)]
                eng.copy_into(root, items, owner, mode)


def _ports(ins: Instruction, word: str) -> list[str]:
    port, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ins.error(f"EXPOSE {word}: invalid protocol {proto!r}")
    lo, dash, hi = port.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        raise ins.error(f"EXPOSE {word}: invalid port")
    a, b = int(lo), int(hi) if dash else int(lo)
    if not (0 < a <= b <= 65535):
        raise ins.error(f"EXPOSE {word}: invalid port range")
    return [f"{p}/{proto}" for p in range(a, b + 1)]


def _is_archive(path: str) -> bool:
    import tarfile

    try:
        with tarfile.open(path, "r:*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def _download(ins: Instruction, url: str, checksum: str | None) -> tuple[bytes, str]:
    """ADD from a URL (plain HTTP(S) GET, at most 1 GiB); ``--checksum=sha256:…`` verified."""
    import urllib.error
    import urllib.parse
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read(1 << 30)
    except (urllib.error.URLError, OSError) as e:
        raise PodpyError(
            f'building at STEP "{ins.original}": downloading {url}: {getattr(e, "reason", e)}'
        ) from None
    if checksum:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or hashlib.sha256(data).hexdigest() != want:
            raise PodpyError(
                f'building at STEP "{ins.original}": checksum of {url} does not match {checksum}'
            )
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    return data, name


def _host_arch() -> str:
    from podpy.spec.platform import host_platform

    return host_platform().architecture


def _platform_args() -> dict[str, str]:
    from podpy.spec.platform import host_platform

    p = host_platform()
    plat = str(p)
    out = {}
    for pre in ("TARGET", "BUILD"):
        out.update(
            {
                f"{pre}PLATFORM": plat,
                f"{pre}OS": p.os,
                f"{pre}ARCH": p.architecture,
                f"{pre}VARIANT": p.variant,
            }
        )
    return out


def read_containerfile(context: Path | None, name: str | None, stdin: Any = None) -> tuple[str, str]:
    """The Containerfile text and its display name: ``-f`` (``-`` = stdin), else Containerfile, else
    Dockerfile in the context."""
    if name == "-":
        data = stdin.read() if stdin is not None else b""
        return (data.decode() if isinstance(data, bytes) else data), "-"
    if name:
        p = Path(name)
        if not p.is_absolute() and not p.exists() and context is not None and (context / name).exists():
            p = context / name
        try:
            return p.read_text(), name
        except OSError as e:
            raise UsageError(
                f"the specified Containerfile or Dockerfile does not exist, {name}: {e.strerror}"
            ) from None
    if context is not None:
        for cand in ("Containerfile", "Dockerfile"):
            p = context / cand
            if p.is_file():
                return p.read_text(), str(p)
    where = context if context is not None else "."
    raise UsageError(f"no Containerfile or Dockerfile specified or found in context directory, {where}")
