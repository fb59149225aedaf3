"""Results: typed run records, their files and the rules every consumer shares.

  Record, make_record, latest                record.py (one "latest wins" rule)
  read_record                                reading.py (migrate, validate, refuse forgeries)
  check_verdict                              verdicts.py (a verdict's statuses recomputed)
  Measurement                                measurement.py
  flat_row, columns()                        flat.py (one flat row per record)
  write_json, read_json_bounded, record_files, read_verdict, ...   files.py
"""

from harness.records.files import (MAX_RECORD_BYTES, atomic_write_text, check_output_file,
                                   check_writable_dir,
                                   is_verdict_file,
                                   load_schema, read_json_bounded, read_verdict, record_files,
                                   to_json, validate_json, verdict_filename, write_json)
from harness.records.flat import columns, flat_row
from harness.records.measurement import Measurement
from harness.records.reading import read_record
from harness.records.record import (KINDS, SCHEMA, SCHEMA_VERSION, SHORT_PARAMS, Record,
                                    latest, make_record, new_run_id, now_iso, options_text,
                                    shown_param)

__all__ = ["KINDS", "MAX_RECORD_BYTES", "SCHEMA", "SCHEMA_VERSION", "SHORT_PARAMS",
           "Measurement", "Record", "atomic_write_text", "check_output_file", "check_writable_dir", "columns", "flat_row",
           "is_verdict_file",
           "latest", "load_schema", "make_record", "new_run_id", "now_iso", "options_text",
           "read_json_bounded", "read_record", "read_verdict", "record_files", "shown_param",
           "to_json", "validate_json", "verdict_filename", "write_json"]
