"""A real OpenLDAP directory for the LDAP sign-in tests: Debian's `slapd` (`make ldap`), started per module
in a temporary folder on a free loopback port with a plain slapd.conf (mdb database), then filled with
people and groups through ldap3 as its root DN. Without slapd the tests FAIL, naming the make target.

    ldap_server   the module fixture: an LdapServer (`url`, `people`), stopped at the end
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=com"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{SUFFIX}", "root-secret"
# name: (password, groups)
PEOPLE = {"lena": ("lena-password-1", ["leadership", "assistant-admins"]), "leo": ("leo-password-1", [])}

_CONF = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {folder}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {folder}/data
"""


@dataclass
class LdapServer:
    url: str
    people: dict[str, tuple[str, list[str]]]
    process: subprocess.Popen

    def config_toml(self) -> str:
        return (f'[auth]\nrole_map = {{ "assistant-admins" = "admin" }}\n\n[auth.ldap]\nurl = "{self.url}"\n'
                f'user_dn = "uid={{name}},ou=people,{SUFFIX}"\ngroup_base = "ou=groups,{SUFFIX}"\n')


def _fill(url: str) -> None:
    import ldap3

    conn = ldap3.Connection(ldap3.Server(url), ROOT_DN, ROOT_PASSWORD, auto_bind=True)
    entries = [(SUFFIX, ["dcObject", "organization"], {"o": "Example", "dc": "example"}),
               (f"ou=people,{SUFFIX}", ["organizationalUnit"], {"ou": "people"}),
               (f"ou=groups,{SUFFIX}", ["organizationalUnit"], {"ou": "groups"})]
    members: dict[str, list[str]] = {}
    for name, (password, groups) in PEOPLE.items():
        dn = f"uid={name},ou=people,{SUFFIX}"
        entries.append((dn, ["inetOrgPerson"], {"uid": name, "cn": name, "sn": name, "userPassword": password}))
        for group in groups:
            members.setdefault(group, []).append(dn)
    for group, dns in members.items():
        entries.append((f"cn={group},ou=groups,{SUFFIX}", ["groupOfNames"], {"cn": group, "member": dns}))
    for dn, classes, attributes in entries:
        assert conn.add(dn, classes, attributes), (dn, conn.result)
    conn.unbind()


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    if not Path(SLAPD).exists():
        pytest.fail("Debian's slapd is missing: `make ldap` installs it (apt-get install slapd)")
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "data").mkdir()
    conf = folder / "slapd.conf"
    conf.write_text(_CONF.format(folder=folder, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD))
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = open(folder / "slapd.log", "w")  # noqa: SIM115 - open for the server's lifetime
    # -d 0: stay in the foreground (no daemon to chase), logging nothing but errors.
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"{url}/", "-d", "0"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            _fill(url)
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"slapd did not start: {(folder / 'slapd.log').read_text()[-2000:]}") from None
            time.sleep(0.2)
    yield LdapServer(url, PEOPLE, proc)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
