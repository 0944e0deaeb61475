#!/usr/bin/env python3
"""The NixOS modules against the daemons (part of test/deploy_check.sh):
every flag and CLAWOS_* variable a module passes is one its daemon accepts
(its --help, or a variable its code reads), every option a module declares is
used, and the systemd hardening shared by the plain units is in lib.nix.

Usage: deploy_check_nix.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import subprocess
import sys

src, build = sys.argv[1], sys.argv[2]
mods = os.path.join(src, "nix", "modules")
failures = []
CODE_DIRS = {
    "clawos-identity": ["identity", "common"],
    "clawos-vm-launcher": ["vm-launcher", "image", "common", "identity"],
    "clawos-orchestrator": ["orchestrator", "common"],
    "clawos-inference-proxy": ["inference-proxy", "common", "identity"],
    "clawos-monitor": ["monitor", "common"],
    "clawos-controlplane": ["controlplane", "common", "identity"],
}
# lib.nix's commonOptions: (option, how a module uses it).
COMMON = ["enable", "package", "listenAddr", "metricsListen", "stateDir", "logLevel", "extraFlags"]


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def code_reads(binary, var):
    for d in CODE_DIRS.get(binary, []):
        for root, _, files in os.walk(os.path.join(src, d)):
            for f in files:
                if f.endswith((".cc", ".h", ".cpp")):
                    with open(os.path.join(root, f), errors="replace") as fh:
                        if '"%s"' % var in fh.read():
                            return True
    return False


def strip_comments(text):
    return "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#") else "" for line in text.splitlines())


checked = 0
for name in sorted(os.listdir(mods)):
    if not name.endswith(".nix") or name in ("default.nix", "lib.nix"):
        continue
    path = os.path.join(mods, name)
    text = open(path).read()
    body = strip_comments(text)
    m = re.search(r"daemon: (clawos-[a-z-]+)", text)
    binary = m.group(1) if m else None
    if binary:
        help_text = subprocess.run([os.path.join(build, "bin", binary), "--help"], capture_output=True,
                                   text=True).stdout
        flags = set(re.findall(r'"(--[a-z0-9-]+)"', body))
        for flag in sorted(flags):
            if not re.search(r"^ +%s( |,|$)" % re.escape(flag), help_text, re.M):
                fail("%s: %s has no flag %s" % (name, binary, flag))
        for var in sorted(set(re.findall(r"CLAWOS_[A-Z0-9_]+", text))):
            if "Env:%s)" % var not in help_text and not code_reads(binary, var):
                fail("%s: %s neither has a flag for %s nor reads it" % (name, binary, var))
        checked += len(flags)
    # Options declared here, and whether the module uses them.
    opts = re.search(r"options\.([a-zA-Z.-]+) =", body)
    if not opts:
        continue  # clawos.nix: shared configuration only
    declared = []
    if "clib.commonOptions" in body:
        declared += [o for o in COMMON if not (o == "metricsListen" and '[ "metricsListen" ]' in body)]
    # Own options: "name = mkOption" and "name = lib.mkEnableOption", nested one level (siem.x).
    nest = None
    for line in body.splitlines():
        g = re.match(r"^    ([a-zA-Z]+) = \{\s*$", line)
        if g:
            nest = g.group(1)
            continue
        if re.match(r"^    \};", line):
            nest = None
        g = re.match(r"^( {4}| {6})([a-zA-Z]+) = (mkOption|lib\.mkEnableOption|lib\.mkOption)", line)
        if g:
            declared.append(g.group(2) if len(g.group(1)) == 4 or not nest else nest + "." + g.group(2))
    for o in declared:
        if not re.search(r"\bcfg\.%s\b" % re.escape(o), body):
            fail("%s: option %s is declared but never used" % (name, o))

# The hardening every plain unit shares is in lib.nix's commonHardening.
lib_text = open(os.path.join(mods, "lib.nix")).read()
units = [f for f in os.listdir(os.path.join(src, "deploy", "systemd")) if f.endswith(".service")]
common = None
for u in units:
    keys = set()
    for line in open(os.path.join(src, "deploy", "systemd", u)):
        k = line.split("=", 1)[0].strip()
        if "=" in line and not line.startswith("#") and k[:1].isupper():
            keys.add(k)
    common = keys if common is None else common & keys
for k in sorted(common or []):
    if k in ("ExecStart", "Type", "Description", "Documentation", "PartOf", "User", "Group",
             "StateDirectory", "StateDirectoryMode", "EnvironmentFile", "After", "Wants",
             "CapabilityBoundingSet", "RestrictAddressFamilies", "SystemCallFilter",
             "ProtectKernelTunables", "RestrictNamespaces"):
        continue  # per daemon, or unit metadata
    if not re.search(r"\b%s = " % k, lib_text):
        fail("lib.nix commonHardening lacks %s, which every deploy/systemd unit sets" % k)

# The hardening issue 9 asks of every unit, in every daemon's module (set in
# the module, or in lib.nix's commonHardening / unprivileged that it uses).
REQUIRED = ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ProtectKernelModules",
            "ProtectKernelLogs", "ProtectKernelTunables", "ProtectClock", "ProtectHostname", "RestrictRealtime",
            "RestrictSUIDSGID", "LockPersonality", "RestrictNamespaces", "RestrictAddressFamilies",
            "SystemCallFilter", "SystemCallArchitectures", "CapabilityBoundingSet", "UMask", "StateDirectory",
            "TasksMax"]


def block(text, name):
    m = re.search(r"\n  %s = [^{]*\{(.*?)\n  \};" % name, text, re.S)
    return m.group(1) if m else ""


common_block = block(lib_text, "commonHardening")
unpriv_block = block(lib_text, "unprivileged")
for name in sorted(os.listdir(mods)):
    text = open(os.path.join(mods, name)).read()
    if "daemon: clawos-" not in text:
        continue
    body = strip_comments(text)
    for key in REQUIRED:
        where = [body]
        if "clib.commonHardening" in body or "clib.unprivileged" in body:
            where.append(common_block)
        if "clib.unprivileged" in body:
            where.append(unpriv_block)
        if not any(re.search(r"\b%s = " % key, w) for w in where):
            fail("%s: the unit does not set %s" % (name, key))

print("nix modules: %d flags checked against the daemons" % checked)
sys.exit(1 if failures else 0)
