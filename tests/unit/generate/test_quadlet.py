"""Quadlet conversion (pure): unit-file parsing, keys to ``podpy run`` flags, dependencies between
sources, refusals with quadlet's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.generate.quadlet import Converter, find_sources, search_dirs, service_name
from podpy.generate.unitfile import UnitFile, escape_words, split_words
from podpy.util.errors import InvalidInput

PODPY = ["/usr/bin/podpy"]


def convert(conv: Converter, path: str, text: str) -> UnitFile:
    res = conv.convert(path, text)
    assert not res.error, res.error
    return UnitFile.parse(res.text, path)


def test_container_service_keys_and_passthrough() -> None:
    conv = Converter(PODPY)
    convert(conv, "/q/data.volume", "[Volume]\nUser=1000\nGroup=1000\nLabel=a=b\n")
    convert(conv, "/q/net.network", "[Network]\nSubnet=10.89.1.0/24\nInternal=yes\n")
    convert(conv, "/q/bb.image", "[Image]\nImage=127.0.0.1:5000/busybox\nTLSVerify=false\n")
    text = """\
[Unit]
Description=Web
[Container]
Image=bb.image
Exec=sh -c "echo hi; \\
 sleep 1000"
Environment=FOO=bar "BAZ=a b"
EnvironmentFile=web.env
PublishPort=8081:80
Volume=data.volume:/data
Volume=/srv:/srv:ro
Network=net.network
Label=app=web
AutoUpdate=registry
WorkingDir=/data
User=1000
Group=1000
HealthCmd=true
StopTimeout=3
Sysctl=net.ipv4.ip_forward=1
Notify=yes
ContainerName=webctr
PodmanArgs=--tz=UTC --init
[Service]
Restart=always
[Install]
WantedBy=default.target
"""
    svc = convert(conv, "/q/web.container", text)
    assert [g for g, _ in svc.items()] == ["Unit", "X-Container", "Service", "Install"]
    assert svc.lookup("Unit", "Description") == "Web"
    assert svc.lookup("Unit", "SourcePath") == "/q/web.container"
    assert svc.lookup_all("Unit", "Requires") == ["bb-image.service", "net-network.service", "data-volume.service"]
    assert svc.lookup_all("Unit", "RequiresMountsFor") == ["%t/podpy", "/srv"]
    assert svc.lookup("Service", "Restart") == "always"
    assert svc.lookup("Service", "Type") == "notify" and svc.lookup("Service", "NotifyAccess") == "all"
    assert svc.lookup("Service", "KillMode") == "mixed"
    assert svc.lookup("Service", "Environment") == "PODMAN_SYSTEMD_UNIT=%n"
    assert svc.lookup("Service", "ExecStop") == "/usr/bin/podpy rm -f -i --cidfile=%t/%N.cid"
    assert svc.lookup_all("Service", "ExecStopPost") == ["-/usr/bin/podpy rm -f -i --cidfile=%t/%N.cid", "-rm -f %t/%N.cid"]
    assert svc.lookup("Install", "WantedBy") == "default.target"
    argv = split_words(svc.lookup("Service", "ExecStart") or "")
    assert argv[:6] == ["/usr/bin/podpy", "run", "--name=webctr", "--cidfile=%t/%N.cid", "--replace", "--rm"]
    assert argv[-4:-1] == ["127.0.0.1:5000/busybox", "sh", "-c"]  # a continued line joins into one word
    assert argv[-1].startswith("echo hi;") and argv[-1].endswith(" sleep 1000")
    joined = " ".join(argv)
    for part in ("--workdir /data", "--health-cmd true", "--stop-timeout 3", "--sysctl net.ipv4.ip_forward=1", "--network=systemd-net", "--sdnotify=container -d",
                 "--user 1000:1000", "-v systemd-data:/data", "-v /srv:/srv:ro",
                 "--label io.containers.autoupdate=registry", "--publish 8081:80", "--env FOO=bar",
                 "--env BAZ=a b", "--label app=web", "--env-file /q/web.env", "--tz=UTC --init 127.0.0.1"):  # fmt: skip
        assert part in joined, part


def test_volume_network_image_services() -> None:
    conv = Converter(["/p"])
    vol = convert(conv, "/q/data.volume", "[Volume]\nUser=1000\nLabel=a=b\nVolumeName=mydata\n")
    assert vol.lookup("Service", "ExecStart") == "/p volume create --ignore --opt o=uid=1000 --label a=b mydata"
    assert (vol.lookup("Service", "Type"), vol.lookup("Service", "RemainAfterExit")) == ("oneshot", "yes")
    net = convert(conv, "/q/n.network", "[Network]\nGlobalArgs=--root /r\nDisableDNS=true\nSubnet=10.0.0.0/24\n")
    assert net.lookup("Service", "ExecStart") == "/p --root /r network create --ignore --disable-dns --subnet 10.0.0.0/24 systemd-n"
    img = convert(conv, "/q/i.image", "[Image]\nImage=quay.io/x/y:1\nArch=arm64\n")
    assert img.lookup("Service", "ExecStart") == "/p image pull --arch arm64 quay.io/x/y:1"
    assert service_name("i.image") == "i-image.service" and service_name("w@.container") == "w@.service"
    tmpl = convert(conv, "/q/w@.container", "[Container]\nImage=busybox\n")
    assert "--name=systemd-%p_%i" in (tmpl.lookup("Service", "ExecStart") or "")


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("a.container", "[Container]\nImage=x\nFoo=1\n", "unsupported key 'Foo' in group 'Container' in /q/a.container"),
        ("a.container", "[Container]\nImage=x\nMemory=1g\n",
         "unsupported key 'Memory' in group 'Container' in /q/a.container: podpy run cannot honour it"),
        ("a.container", "[Container]\nExec=true\n", "no Image key specified"),
        ("a.container", "[Container]\nImage=x\nVolume=nope.volume:/d\n", "requested Quadlet volume nope.volume was not found"),
        ("a.container", "[Container]\nImage=x\n[Service]\nType=simple\n", "invalid service Type 'simple'"),
        ("a.container", "[Container]\nImage=x\n[Service]\nKillMode=none\n", "invalid KillMode 'none'"),
        ("a.container", "[Container]\nImage=x\nGroup=1\n", "invalid Group set without User"),
        ("a.kube", "[Kube]\nYaml=x.yml\n", "a.kube: .kube files need `podpy kube play`"),  # without kube=True
        ("a.container", "Image=x\n", "key 'Image' outside of any group"),
    ],
)
def test_refusals(name: str, text: str, error: str) -> None:
    res = Converter(PODPY).convert(f"/q/{name}", text)
    assert error in res.error and not res.text


def test_search_path_and_order(tmp_path: Path) -> None:
    assert search_dirs(True, 1001, "/home/u/.config", {}) == [
        "/home/u/.config/containers/systemd", "/etc/containers/systemd/users/1001", "/etc/containers/systemd/users"]
    assert search_dirs(True, 1001, "/c", {"QUADLET_UNIT_DIRS": "/a:/b"}) == ["/a", "/b"]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d, n in ((a, "web.container"), (b, "web.container"), (b, "x.volume"), (a, "y.network"), (a, "notes.txt")):
        (d / n).write_text("")
    assert find_sources([str(a), str(b)]) == [str(b / "x.volume"), str(a / "y.network"), str(a / "web.container")]


def test_unitfile_words_and_lists() -> None:
    u = UnitFile.parse("[S]\n# c\nK=a\nK=\nK=b \"c d\"\nE=A=1 'B=x y'\nE=A=2\nLong=one \\\n two\n", "/f")
    assert u.lookup_all("S", "K") == ['b "c d"']
    assert u.lookup_words("S", "K") == ["b", "c d"]
    assert u.lookup_key_values("S", "E") == [("A", "2"), ("B", "x y")]
    assert u.lookup("S", "Long") == "one   two"
    assert split_words(r'a\ b "c\"d" \x41') == ["a b", 'c"d', "A"]
    assert escape_words(["a", "b c", 'q"', "%N", ""]) == 'a "b c" "q\\"" %N ""'
    with pytest.raises(InvalidInput, match="unbalanced quotes"):
        split_words('"open')


def test_pod_and_member() -> None:
    pod_text = "[Pod]\nPodName=p1\nPublishPort=8080:80\nNetwork=host\n"
    assert "need pods" in Converter(PODPY).convert("/q/a.pod", pod_text).error
    conv = Converter(["/p"], pods=True)
    conv.preload("/q/a.pod", pod_text)
    ctr = convert(conv, "/q/c.container", "[Container]\nImage=busybox\nPod=a.pod\n")
    assert (ctr.lookup("Unit", "BindsTo"), ctr.lookup("Unit", "After")) == ("a-pod.service", "a-pod.service")
    assert "--pod p1 busybox" in (ctr.lookup("Service", "ExecStart") or "")
    pod = convert(conv, "/q/a.pod", pod_text)
    assert (pod.lookup("Unit", "Wants"), pod.lookup("Unit", "Before")) == ("c.service", "c.service")
    assert pod.lookup_all("Service", "ExecStartPre") == ["-/p pod rm -f --ignore p1",
                                                         "/p pod create --name=p1 --network=host --publish 8080:80"]  # fmt: skip
    assert pod.lookup("Service", "ExecStart") == "/p pod start p1"
    assert pod.lookup("Service", "ExecStop") == "/p pod stop --ignore p1"
    assert "quadlet pod unit b.pod does not exist" in conv.convert("/q/d.container", "[Container]\nImage=x\nPod=b.pod\n").error
    assert "unsupported key 'UserNS' in group 'Pod'" in conv.convert("/q/e.pod", "[Pod]\nUserNS=auto\n").error


def test_kube_service() -> None:
    conv = Converter(["/p"], kube=True)
    convert(conv, "/q/n.network", "[Network]\n")
    svc = convert(conv, "/q/app.kube", "[Kube]\nYaml=app.yml\nNetwork=n.network\nConfigMap=/c/cm.yml\nSetWorkingDirectory=yes\n")
    assert svc.lookup("Service", "ExecStart") == "/p kube play --replace --network=systemd-n --configmap /c/cm.yml /q/app.yml"
    assert svc.lookup("Service", "ExecStopPost") == "/p kube down /q/app.yml"
    assert (svc.lookup("Service", "Type"), svc.lookup("Service", "WorkingDirectory")) == ("oneshot", "/q")
    assert svc.lookup("Unit", "Requires") == "n-network.service"
    assert "unsupported key 'PublishPort' in group 'Kube'" in conv.convert("/q/b.kube", "[Kube]\nYaml=/y\nPublishPort=1:1\n").error
    assert "no Yaml key specified" in conv.convert("/q/c.kube", "[Kube]\n").error
