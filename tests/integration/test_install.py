"""What `meson install` puts where: the configuration lands in /etc/standingd, where
the README says it lives and where the unit's ConfigurationDirectory= is, with the
mail templates, and the unit's --conf names that directory, with the default prefix
and with another one; the installed config's notify_command names the mailer in the
prefix's libexecdir, and the unit's sandbox lets it reach an SMTP relay on localhost.

Each case configures a fresh build directory from the source tree (no compiling) and
installs the configuration, the units and the man pages (`--tags config,systemd,man`)
into a temporary DESTDIR."""
import os
import shutil
import subprocess
import tempfile
import unittest

SRCDIR = os.path.abspath(os.environ.get("SRCDIR", "."))


def unit_lines(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


class Install(unittest.TestCase):
    def setUp(self):
        if not shutil.which("meson"):
            self.skipTest("meson is not on PATH")
        self.dir = tempfile.mkdtemp(prefix="standingd-install-")
        self.addCleanup(shutil.rmtree, self.dir)

    def install(self, *options):
        build, root = os.path.join(self.dir, "build"), os.path.join(self.dir, "root")
        setup = subprocess.run(["meson", "setup", build, SRCDIR, *options], capture_output=True, text=True,
                               timeout=300)
        self.assertEqual(setup.returncode, 0, setup.stdout + setup.stderr)
        inst = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--tags", "config,systemd,man",
                               "--destdir", root], capture_output=True, text=True, timeout=300)
        self.assertEqual(inst.returncode, 0, inst.stdout + inst.stderr)
        files = sorted(os.path.relpath(os.path.join(d, f), root) for d, dirs, fs in os.walk(root)
                       for f in fs + [x for x in dirs if not os.listdir(os.path.join(d, x))])
        return setup.stdout, root, files

    def config_lines(self, root, path):
        with open(os.path.join(root, path)) as f:
            return [l.rstrip("\n") for l in f]

    def test_default_prefix_lands_in_etc_standingd(self):
        out, root, files = self.install()
        # the mail templates standingd-mail reads, every one the source tree has
        templates = sorted(os.path.join("etc/standingd/templates", os.path.relpath(os.path.join(d, f), tdir))
                           for tdir in [os.path.join(SRCDIR, "conf", "templates")]
                           for d, dirs, fs in os.walk(tdir)
                           for f in fs + [x for x in dirs if not os.listdir(os.path.join(d, x))])
        self.assertIn("etc/standingd/templates/en/order-confirmation.txt", templates)
        self.assertEqual([f for f in files if not f.startswith("etc/standingd/templates/")], [
            "etc/standingd/orders.d",
            "etc/standingd/standingd.yaml",
            "usr/lib/systemd/system/standingd.service",
            "usr/lib/systemd/system/standingd.socket",
            "usr/lib/sysusers.d/standingd.conf",
            "usr/lib/tmpfiles.d/standingd.conf",
            "usr/share/man/man1/standingctl.1",
            "usr/share/man/man8/standingd.8",
        ])
        unit = unit_lines(os.path.join(root, "usr/lib/systemd/system/standingd.service"))
        self.assertIn("ExecStart=/usr/sbin/standingd --conf /etc/standingd --state /var/lib/standingd "
                      "--socket /run/standingd/io.standingd.sock", unit)
        self.assertIn("ConfigurationDirectory=standingd", unit)
        self.assertEqual([f for f in files if f.startswith("etc/standingd/templates/")], templates)
        # the mailer runs in the unit: TCP to the relay, by IP only to localhost (a drop-in allows more)
        self.assertIn("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", unit)
        self.assertIn("IPAddressDeny=any", unit)
        self.assertIn("IPAddressAllow=localhost", unit)
        self.assertIn("notify_command: [/usr/libexec/standingd/standingd-mail, --conf, /etc/standingd]",
                      self.config_lines(root, "etc/standingd/standingd.yaml"))
        self.assertNotIn("WARNING", out)

    def test_other_prefix_still_reads_etc_standingd_and_says_so(self):
        out, root, files = self.install("-Dprefix=/usr/local")
        self.assertIn("usr/local/etc/standingd/standingd.yaml", files)
        # the installed config names the mailer where this prefix puts it
        self.assertIn("notify_command: [/usr/local/libexec/standingd/standingd-mail, --conf, /etc/standingd]",
                      self.config_lines(root, "usr/local/etc/standingd/standingd.yaml"))
        unit = unit_lines(os.path.join(root, "usr/local/lib/systemd/system/standingd.service"))
        self.assertIn("ExecStart=/usr/local/sbin/standingd --conf /etc/standingd --state /var/lib/standingd "
                      "--socket /run/standingd/io.standingd.sock", unit)
        self.assertIn("WARNING: the starting configuration goes to /usr/local/etc/standingd, but "
                      "standingd.service reads /etc/standingd: set -Dsysconfdir=/etc (the default with prefix /usr)",
                      out)
        # the remedy: the same prefix with sysconfdir /etc
        shutil.rmtree(self.dir)
        os.mkdir(self.dir)
        out, root, files = self.install("-Dprefix=/usr/local", "-Dsysconfdir=/etc")
        self.assertIn("etc/standingd/standingd.yaml", files)
        self.assertNotIn("WARNING", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
