"""The mail templates under `standingd --check` and `standingctl check`: errors at
FILE:LINE:COL (exit 1), a missing translation as a warning (exit 0), a missing
English template as an error, no templates directory: nothing to check."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import STANDINGD, STANDINGCTL

SRC = os.environ.get("SRCDIR", ".")
CONF = os.path.join(SRC, "conf")
OK = "OK: 4 customers, 6 standing orders\n"


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


class Templates(unittest.TestCase):
    def setUp(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        self.conf = os.path.join(d, "conf")
        shutil.copytree(CONF, self.conf)

    def path(self, lang, name):
        return os.path.join(self.conf, "templates", lang, name + ".txt")

    def edit(self, lang, name, old, new):
        p = self.path(lang, name)
        with open(p, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))

    def both(self, code, lines):
        """standingd --check and standingctl check say the same, exactly."""
        for argv in ([STANDINGD, "--check", "--conf", self.conf], [STANDINGCTL, "check", "--conf", self.conf]):
            r = run(*argv)
            self.assertEqual((r.returncode, r.stdout.splitlines()), (code, lines), argv[1])
            self.assertEqual(r.stderr, "")

    def test_example_templates_are_ok(self):
        # conf/ has all 35 templates: nothing to say beyond OK
        self.assertEqual(len(os.listdir(os.path.join(self.conf, "templates"))), 5)
        self.both(0, [OK.strip()])

    def test_errors_name_file_line_column(self):
        # the Finnish confirmation's "Yhteensä:          {{gross}}" (line 19)
        self.edit("fi", "order-confirmation", "{{gross}}", "{{totl}}")
        self.edit("nb", "order-cancelled", "{{/unpaid}}\n{{^unpaid}}", "{{^unpaid}}")
        self.edit("vi", "shipping-confirmation", "{{tracking_url}}\n{{/tracking_url}}",
                  "{{tracking_url}} }}\n{{/tracking_url}}")
        self.edit("en", "order-confirmation", "{{delivery_time}}", "{{tracking}}")
        self.both(1, [
            'templates/en/order-confirmation.txt:21:30: placeholder "tracking" is not available in order-confirmation',
            'templates/fi/order-confirmation.txt:19:20: unknown placeholder "totl"',
            'templates/nb/order-cancelled.txt:5:1: unclosed section "unpaid"',
            'templates/vi/shipping-confirmation.txt:14:39: "}}" without "{{"',
        ])

    def test_missing_translation_is_a_warning(self):
        os.unlink(self.path("lv", "payment-overdue"))
        shutil.rmtree(os.path.join(self.conf, "templates", "vi"))
        # a misspelt name is read by no one: said too
        os.rename(self.path("fi", "order-cancelled"), self.path("fi", "order-canceled"))
        self.both(0, ["warning: templates/fi/order-canceled.txt: not a template name (order-confirmation.txt, "
                      "payment-request.txt, payment-overdue.txt, order-on-hold.txt, order-cancelled.txt, "
                      "shipping-confirmation.txt, task-due.txt); ignored",
                      "warning: templates/fi/order-cancelled.txt: missing; Finnish customers get the English template",
                      "warning: templates/lv/payment-overdue.txt: missing; Latvian customers get the English template"] +
                  ["warning: templates/vi/%s.txt: missing; Vietnamese customers get the English template" % n
                   for n in ["order-cancelled", "order-confirmation", "order-on-hold", "payment-overdue",
                             "payment-request", "shipping-confirmation", "task-due"]] + [OK.strip()])

    def test_missing_english_is_an_error(self):
        os.unlink(self.path("en", "shipping-confirmation"))
        os.unlink(self.path("fi", "shipping-confirmation"))
        self.both(1, [
            "templates/en/shipping-confirmation.txt: missing; every language falls back to English, so it is required",
            "warning: templates/fi/shipping-confirmation.txt: missing; Finnish customers get the English template",
        ])

    def test_definition_and_template_errors_together(self):
        self.edit("fi", "payment-request", "{{payment_reference}}", "{{viite}}")
        p = os.path.join(self.conf, "orders.d", "acme.yaml")
        with open(p, encoding="utf-8") as f:
            text = f.read()
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace("every: 2 months", "every: 0 months"))
        self.both(1, [
            "orders.d/acme.yaml:21:14: expected a positive interval",
            'templates/fi/payment-request.txt:8:20: unknown placeholder "viite"',
        ])

    def test_no_templates_directory_nothing_to_check(self):
        shutil.rmtree(os.path.join(self.conf, "templates"))
        self.both(0, [OK.strip()])


if __name__ == "__main__":
    unittest.main()
