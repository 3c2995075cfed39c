import os
import sys

# The shared references (attnres_testlib) sit beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
