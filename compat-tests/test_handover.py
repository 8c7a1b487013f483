"""Unit tests of handover.py's pieces that need no cluster: the program's stdin/stdout
hand-shake and the choice of the node to stop."""

import sys
import unittest
from unittest import mock

import handover


def fake_program(body):
    return [sys.executable, "-c", "import sys\n" + body]


class ProgramTest(unittest.TestCase):
    def test_ready_then_go(self):
        program = handover.Program(fake_program(
            "print('records 0..999 acknowledged'); print('handover: ready', flush=True)\n"
            "line = sys.stdin.readline()\n"
            "print('after', line.strip())\n"), {})
        self.assertTrue(program.wait_ready())
        program.go()
        result = program.finish()
        self.assertEqual(result["rc"], 0)
        self.assertIn("after go", result["stdout"])

    def test_exit_before_ready(self):
        program = handover.Program(fake_program(
            "print('unsupported: no producer'); sys.exit(77)\n"), {})
        self.assertFalse(program.wait_ready())
        result = program.finish()
        self.assertEqual(result["rc"], 77)
        self.assertIn("unsupported: no producer", result["stdout"])

    def test_ready_must_be_a_line_of_its_own(self):
        program = handover.Program(fake_program("print('not handover: ready yet')\n"), {})
        self.assertFalse(program.wait_ready())
        program.finish()


class VictimTest(unittest.TestCase):
    def victim(self, leaders, turn):
        view = [("t", p, leader, [1, 2, 3], [1, 2, 3]) for p, leader in enumerate(leaders)]
        cluster = mock.Mock(bootstrap="127.0.0.1:1")
        with mock.patch.object(handover, "partitions", return_value=view):
            return handover.Handover(cluster).victim("t", turn)

    def test_the_node_leading_most(self):
        self.assertEqual(self.victim([2, 3, 2], 0), (2, 2))
        self.assertEqual(self.victim([2, 3, 2], 1), (2, 2))

    def test_ties_taken_in_turn(self):
        self.assertEqual([self.victim([3, 1, 2], turn)[0] for turn in range(4)], [1, 2, 3, 1])


if __name__ == "__main__":
    unittest.main()
