import sys
from pathlib import Path

# The checkout is the collection berth.ops (make setup links it under .collections/).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
