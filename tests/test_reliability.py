"""docs/reliability.md: every bad input and fault the tests try, what it gets, and the test
that holds it, generated from the registry in this file so that the table cannot drift.

* `ROWS` are written by hand, one or more per fault test; the cases of the parametrized tests
  are read from the very lists those tests run over (`BAD_DATA`, `BAD`, ...), so a new case
  is a new row.
* The tests below regenerate the document and compare it with the file, check that every
  test a row names exists, and that every test of the fault files is in the table or on the
  short list of tests that try no fault (`NOT_FAULTS`).

After adding a fault test, regenerate the document with

    python tests/test_reliability.py
"""
from __future__ import annotations

import ast
import functools
import sys
import textwrap
from pathlib import Path
from typing import Iterable, NamedTuple

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
DOC = REPO / "docs" / "reliability.md"


class Row(NamedTuple):
    test: str          # "test_file.py::test_function"
    fault: str         # the bad input or the fault, as a user meets it
    outcome: str       # the error or the behaviour it gets


#: The files whose tests try faults; their other tests are in NOT_FAULTS.
AREAS = {
    "test_training_safety.py": "Training",
    "test_saving.py": "Model files",
    "test_special_files.py": "Special files and names",
    "test_memory_bounds.py": "Model and IDX files",
    "test_idx.py": "IDX files",
    "test_datasets.py": "Data",
    "test_download.py": "Downloads and cache",
    "test_cli_train.py": "Command line",
    "test_cli_signals.py": "Command line: stops and --out",
}
OWNED_ELSEWHERE = {"test_gradcheck_core.py": "Gradient checks (owned elsewhere)"}
#: Files some of whose tests hold a row, the others trying no fault.
SOME_ROWS = {"test_blas.py": "The test suite", "test_grading.py": "Grading"}

NOT_FAULTS = {
    "test_training_safety.py": {"test_mse_accepts_targets_outside_unit_interval"},
    "test_saving.py": {"test_round_trip_is_exact", "test_resumed_training_matches_uninterrupted_training_bit_for_bit",
                       "test_resumed_sgd_with_momentum_matches", "test_sequential_round_trips",
                       "test_float64_model_round_trips", "test_model_saved_without_compile_loads_uncompiled",
                       "test_loaded_encoder_can_be_rebuilt_from_layers",
                       "test_save_overwrites_and_leaves_no_temp_files"},
    "test_idx.py": {"test_round_trip_any_type_and_shape", "test_round_trip_through_file_objects",
                    "test_known_bytes_for_mnist_style_files", "test_multibyte_values_are_big_endian",
                    "test_gzip_is_detected_by_content_not_name", "test_write_is_deterministic",
                    "test_big_endian_values_survive_the_in_place_byte_swap"},
    "test_datasets.py": {"test_subset_shapes_dtypes_and_split", "test_subset_is_identical_across_calls_and_machines",
                         "test_subset_classes_are_interleaved_and_halves_disjoint", "test_subset_holds_real_digits",
                         "test_folder_in_every_spelling", "test_scratchae_data_env_and_folder_name",
                         "test_fashion_mnist_from_debian_package", "test_to_vectors_known_values",
                         "test_to_vectors_is_exact_division", "test_noise_follows_the_recipe_and_leaves_input_alone",
                         "test_noise_seeding", "test_noise_statistics", "test_load_bundled_subset"},
    "test_download.py": {"test_good_download_is_verified_cached_and_not_fetched_again",
                         "test_public_load_data_uses_module_constants",
                         "test_fashion_mnist_downloads_into_its_own_cache",
                         "test_auto_uses_full_mnist_when_downloadable",
                         "test_cache_root_follows_platform_conventions",
                         "test_a_deadline_that_never_passes_and_one_that_has"},
    "test_cli_train.py": {"test_train_vanilla_writes_model_history_and_figures",
                          "test_train_sparse_and_denoising_defaults", "test_demo_prints_table_and_writes_figures",
                          "test_help_shows_examples", "test_train_on_a_folder_of_idx_files",
                          "test_train_with_a_learners_sigmoid_through_the_real_command"},
    "test_memory_bounds.py": set(),
    "test_cli_signals.py": set(),
    "test_special_files.py": set(),
}

TS, SV, MB, IX, DS, DL, CL, SF, CS, BL, GR = (f"test_{n}.py::" for n in (
    "training_safety", "saving", "memory_bounds", "idx", "datasets", "download", "cli_train", "special_files",
    "cli_signals", "blas", "grading"))
BACK = "the model is back at the end of its last completed epoch (weights, optimizer state, shuffling generator)"

ROWS: list[Row] = [
    # -- training -------------------------------------------------------------------------------
    Row(TS + "test_validation_data_is_validated_too", "`validation_data` of the wrong width, not a pair, or targets of 255",
        "the same errors as x and y, before any step"),
    Row(TS + "test_fit_needs_targets", "`fit(x)` without y", "ValueError: pass the input twice, fit(x, x)"),
    Row(TS + "test_training_or_evaluating_without_compile_is_a_runtime_error",
        "`fit`, `train_on_batch` or `evaluate` before `compile`", "RuntimeError saying to call compile"),
    Row(TS + "test_non_positive_learning_rate_is_refused", "learning_rate 0 or NaN", "ValueError naming learning_rate"),
    Row(TS + "test_bce_range_check_also_when_x_is_y", "images in 0-255 given as both x and y (BCE)",
        "ValueError naming [0, 1] and 255"),
    Row(TS + "test_injected_nan_stops_training_naming_epoch_and_batch", "a NaN loss at epoch 3, batch 3",
        f"NonFiniteLossError naming epoch, batch and samples; {BACK}, exactly as a model trained 2 epochs"),
    Row(TS + "test_divergence_restores_the_state_of_the_last_completed_epoch_exactly",
        "resuming after a divergence (Adam, SGD)", "bit for bit the run that never failed"),
    Row(TS + "test_the_last_update_of_fit_is_checked", "the last update of `fit` makes the weights NaN, 1e30 or 1e18",
        f"NonFiniteLossError 'after the last update of epoch 2 (batch 4)'; {BACK}; predict and evaluate finite "
        "(before: fit returned normally and predict gave NaN)"),
    Row(TS + "test_a_non_finite_optimizer_state_is_caught_and_never_checkpointed",
        "an update that makes the optimizer state (momentum) infinite, the weights finite",
        "NonFiniteLossError in fit (checked once per epoch) and in train_on_batch (undone); no checkpoint holds it"),
    Row(TS + "test_non_finite_validation_loss_stops_training_too", "validation_data whose loss overflows after epoch 1",
        "NonFiniteLossError naming validation_data and the epoch; the model as this fit started (weights, "
        "optimizer state, shuffling generator, each compared)"),
    Row(TS + "test_a_non_finite_validation_loss_after_epoch_2_puts_back_epoch_1_exactly",
        "a NaN loss on validation_data after epoch 2",
        "NonFiniteLossError; weights, optimizer state and shuffling generator each back at the end of epoch 1, bit "
        "for bit (each restore removed in turn fails the test; before, the row above passed without the weights' "
        "and the generator's restore)"),
    Row(TS + "test_diverging_sgd_stops_with_finite_weights_and_a_finite_loss", "SGD with learning_rate=1e4",
        "NonFiniteLossError; finite weights and a finite evaluate, whole epochs only (before: weights of ~1e18 kept)"),
    Row(TS + "test_diverging_sgd_raises_no_runtime_warning", "overflow on the way to a divergence",
        "no RuntimeWarning, one NonFiniteLossError"),
    Row(TS + "test_an_exception_inside_fit_also_restores_the_last_completed_epoch",
        "a piece raising in the middle of an epoch", f"the exception propagates; {BACK}"),
    Row(TS + "test_train_on_batch_non_finite_loss_is_not_applied", "`train_on_batch` on weights that give NaN",
        "NonFiniteLossError; nothing applied, step count unchanged"),
    Row(TS + "test_train_on_batch_undoes_the_update_that_broke_the_weights",
        "`train_on_batch` after a call whose update made the weights ~1e30",
        "NonFiniteLossError; weights and optimizer state back to before that update (before: broken weights kept)"),
    Row(TS + "test_train_on_batch_undoes_an_update_to_non_finite_weights_at_once",
        "`train_on_batch` whose own update makes the weights NaN", "the update is undone at once; NonFiniteLossError"),
    Row(TS + "test_train_on_batch_never_undoes_across_set_weights", "`train_on_batch` on huge weights the user set",
        "NonFiniteLossError; the user's weights stay (no undo across set_weights)"),
    Row(TS + "test_ctrl_c_finishes_the_batch_and_puts_back_the_last_completed_epoch", "Ctrl-C at epoch 3, batch 3",
        f"the batch finishes, KeyboardInterrupt; {BACK}, as history says; the SIGINT handler restored"),
    Row(TS + "test_ctrl_c_in_the_last_batch_keeps_that_epoch", "Ctrl-C in the last batch of an epoch",
        "that epoch completes and is kept"),
    Row(TS + "test_second_ctrl_c_stops_the_batch_at_once_and_still_restores", "a second Ctrl-C inside a batch",
        f"KeyboardInterrupt at once; {BACK}"),
    Row(TS + "test_ctrl_c_in_first_epoch_puts_back_the_starting_weights", "Ctrl-C in the first epoch",
        "the weights this fit started from, empty history, the message says so"),
    Row(TS + "test_ctrl_c_outside_fit_is_not_swallowed", "Ctrl-C after fit returned", "a plain KeyboardInterrupt"),
    Row(TS + "test_held_interrupts_finishes_the_block_then_raises", "two Ctrl-C inside `held_interrupts()`",
        "the block finishes, then one KeyboardInterrupt"),
    Row(TS + "test_sigterm_and_sighup_finish_the_batch_and_put_back_the_last_completed_epoch",
        "SIGTERM or SIGHUP at epoch 3, batch 3", f"the batch finishes; Interrupted (a KeyboardInterrupt) 'stopped "
        f"by SIGTERM', naming the signal; {BACK}; the command's handler back, told a stop is under way (a further "
        "signal waits)"),
    Row(TS + "test_a_second_sigterm_or_sighup_stops_the_batch_at_once", "a second SIGTERM or SIGHUP inside a batch",
        f"Interrupted at once; {BACK}"),
    Row(TS + "test_an_ignored_or_own_signal_handler_is_left_alone",
        "SIGHUP ignored (as under nohup), and a program's own SIGTERM handler, during fit",
        "both left alone: fit trains on, the program's handler runs, both as they were afterwards"),
    Row(TS + "test_a_script_calling_fit_gets_sigterm_as_an_interrupt_not_a_kill",
        "a real SIGTERM to a plain script in fit (SIGTERM's default action)",
        "Interrupted; epoch 1 kept; the default action back after fit (before: killed, the epoch lost)"),
    Row(TS + "test_the_commands_handle_the_three_signals_and_give_the_old_handlers_back",
        "SIGINT, SIGTERM, SIGHUP under a command's handler",
        "the first raises Interrupted where it lands, later ones are only counted; the old handlers back after"),
    Row(TS + "test_any_exception_after_an_epoch_keeps_that_epoch",
        "MemoryError, a full disk (OSError) or SystemExit from a callback in epoch 2",
        f"it propagates; {BACK}, epoch 1 in history (the commands save it)"),
    Row(TS + "test_a_callback_that_trains_its_own_model_is_refused",
        "a callback that calls `fit` or `train_on_batch` on its own model",
        "RuntimeError 'refused: a fit running in this thread ... is already training this model'; the outer fit "
        "undone if uncaught, and if caught its history and step count its own (before: both runs mixed)"),
    Row(TS + "test_a_second_thread_fitting_the_same_model_is_refused",
        "a second thread calling `fit` or `train_on_batch` on a model in training",
        "RuntimeError naming the thread that trains it; the first fit's history and steps its own"),
    Row(TS + "test_two_models_train_at_once_in_two_threads", "two threads, each training its own model",
        "both train as they would alone: the guard is per model"),
    # -- model files ---------------------------------------------------------------------------
    Row(SV + "test_failed_save_leaves_existing_file_intact_and_no_temp_files", "a save failing (disk full, Ctrl-C)",
        "the old file intact, no temporary file left"),
    Row(SV + "test_failed_first_save_leaves_nothing", "the first save failing", "no file at all"),
    Row(SV + "test_a_renamed_model_keeps_its_optimizer_state_and_saves_a_loadable_file",
        "renaming a model after training, then training and saving it",
        "the optimizer state is kept (its key is 'packed/*', not the name) and the file loads"),
    Row(SV + "test_a_file_whose_packed_state_is_keyed_by_the_model_name_still_loads",
        "a model file from before the packed key was 'packed/*'", "it loads, with its optimizer state"),
    Row(SV + "test_a_file_without_adams_kept_sums_loads_and_trains_on",
        "a model file written before Adam kept its sums (m and v in Keras's units only)",
        "loads; m and v converted to float32 rounding; training continues as it would have"),
    Row(SV + "test_missing_file_raises_file_not_found", "`load_model` on a missing file", "FileNotFoundError naming it"),
    Row(SV + "test_empty_file", "an empty file", "ValueError: not a readable scratchae model file"),
    Row(SV + "test_text_file", "a text file", "ValueError: not a readable scratchae model file"),
    Row(SV + "test_truncated_file", "a model file cut at 1/3, 1/2 and 10 bytes short", "ValueError"),
    Row(SV + "test_corrupted_file_flipped_bytes_anywhere", "one byte flipped at 41 places",
        "ValueError, or (a byte never read) the same model: never a silently different one"),
    Row(SV + "test_corrupted_weight_bytes_are_detected", "one bit flipped inside a kernel", "ValueError (the CRC)"),
    Row(SV + "test_foreign_npz", "an .npz that is not a model", "ValueError: not a scratchae model"),
    Row(SV + "test_damaged_json", "a damaged description", "ValueError: damaged"),
    Row(SV + "test_wrong_format_name", "format 'keras-h5'", "ValueError naming it"),
    Row(SV + "test_wrong_format_version", "format version 42", "ValueError naming both versions"),
    Row(SV + "test_wrong_weight_shape", "a kernel of the wrong shape", "ValueError naming the parameter and both shapes"),
    Row(SV + "test_wrong_weight_dtype", "a float64 bias in a float32 model", "ValueError naming float64"),
    Row(SV + "test_missing_and_extra_weights", "a weight missing, or one for no layer", "ValueError listing both sets"),
    Row(SV + "test_non_finite_weights", "a NaN weight", "ValueError: holds non-finite values"),
    Row(SV + "test_wrong_optimizer_state_shape", "Adam moments of the wrong shape", "ValueError naming the entry"),
    Row(SV + "test_unknown_layer_type", "a 'Conv2D' layer", "ValueError naming it"),
    Row(SV + "test_pickled_object_array_is_refused", "an object array (pickle)", "ValueError; nothing unpickled"),
    Row(SV + "test_duplicate_layer_names_are_refused_or_round_trip", "two layers with one name",
        "refused when built, or saved and loaded exactly"),
    Row(SV + "test_deeply_nested_description_is_a_value_error_not_a_recursion_error",
        "a description nested 100,000 deep", "ValueError: nested too deeply (before: RecursionError)"),
    Row(SV + "test_description_must_be_one_string", "a description that is an array of strings",
        "ValueError: expected one string"),
    Row(SV + "test_a_description_larger_than_the_stored_arrays_is_refused_before_building",
        "a 17 KB file whose description asks 12,000 or 1,000,000 units",
        "ValueError naming stored and asked shapes, no layer built (before: 1.7 GB, or 7 TiB, asked)"),
    Row(SV + "test_layer_entry_that_is_not_an_object", "a layer entry that is a list", "ValueError: layer 2 must be ..."),
    Row(SV + "test_compressed_or_foreign_entries_are_refused", "a compressed .npz, or an extra entry",
        "ValueError: compressed / unexpected entries"),
    Row(SV + "test_an_entry_announcing_more_than_it_holds_is_refused_unread",
        "a .npy header announcing (24, 1000000) over 960 bytes", "ValueError from the header; nothing allocated"),
    Row(SV + "test_save_to_a_folder_name_is_refused_and_writes_nothing", "`save('')`, `save('sub/')`, `save('sub/.')`",
        "ValueError: expected a file name; nothing written anywhere (before: a temporary file in the parent folder)"),
    Row(SV + "test_save_over_an_existing_folder_says_so", "`save` onto an existing folder",
        "IsADirectoryError naming the target"),
    Row(SV + "test_save_errors_name_the_target_not_the_temporary_file",
        "`save` into a missing or unwritable folder",
        "FileNotFoundError ('folder ... does not exist') or PermissionError naming the target, never the hidden "
        "temporary file"),
    Row(SV + "test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes", "a save killed by SIGKILL",
        "the next save to that file removes the leftover; a temporary file of a live writer and other names are kept"),
    Row(SV + "test_a_file_missing_adams_moments_would_resume_to_other_weights",
        "a model file without Adam's second moments, and the same weights with the moments reset",
        "ValueError for the file; the reset model takes another step than the saved one (why the moments are required)"),
    Row(SV + "test_sgd_state_is_checked_whole_too",
        "an SGD model file without its momentums, or with momentums an SGD without momentum never keeps",
        "ValueError naming the file and the entry (before: it loaded)"),
    Row(SV + "test_a_file_with_adams_kept_sums_alone_loads_exactly", "a model file with Adam's kept sums alone",
        "it loads them exactly: they are the whole state"),
    # -- special files and names ---------------------------------------------------------------
    Row(SF + "test_a_save_onto_a_fifo_is_refused_and_the_fifo_stays",
        "`save` or `write_idx` onto a FIFO, or onto a symlink to one (as /dev/stdout is when stdout is a pipe)",
        "SpecialFileError (an OSError) naming the path: 'is a FIFO (named pipe), not a regular file; refusing to "
        "replace it'; the FIFO and the link stay (before: replaced by a regular file)"),
    Row(SF + "test_a_save_onto_a_socket_is_refused_and_the_socket_stays", "`save` onto a Unix socket",
        "SpecialFileError: 'is a socket'; the socket stays"),
    Row(SF + "test_a_save_onto_a_device_node_is_refused_and_the_device_stays",
        "`save` onto a device node with /dev/full's numbers (made with os.mknod; skipped unless root, as in CI), "
        "or onto a symlink to it",
        "SpecialFileError: 'is a character device'; still that device (before: as root, /dev/full became a "
        "regular file)"),
    Row(SF + "test_a_save_through_a_symlink_updates_its_target_and_keeps_the_link",
        "`save` through a symlink: relative, into another folder, a link to a link, dangling",
        "the final target gets the new content and every link stays a link (before: the link was replaced and its "
        "target kept the old content)"),
    Row(SF + "test_a_symlink_loop_is_a_clear_error", "`save` onto a symlink loop",
        "OSError ELOOP naming the path; nothing written"),
    Row(SF + "test_the_command_line_refuses_an_output_file_that_is_a_fifo_before_training",
        "`scratchae train shallow --out DIR` with a FIFO DIR/shallow.npz", "one line 'is a FIFO (named pipe)', "
        "exit 2, before training; the FIFO stays"),
    Row(SF + "test_a_fifo_in_the_data_cache_is_a_local_error_and_no_mirror_is_tried",
        "a FIFO in the data cache where a downloaded file goes",
        "CacheError 'cannot write ... into the data cache: ... is a FIFO'; no mirror tried"),
    Row(SF + "test_a_250_character_name_is_saved_and_loaded", "a 250-character file name",
        "saved and loaded; the temporary name within the folder's PC_NAME_MAX (before: a 240-character name "
        "failed, 'File name too long')"),
    Row(SF + "test_names_up_to_the_limit_are_written_and_one_past_it_is_a_clear_error",
        "a name of exactly PC_NAME_MAX bytes (two-byte characters), and one a byte longer",
        "written; OSError ENAMETOOLONG naming the path, nothing left behind"),
    Row(SF + "test_a_killed_save_of_a_long_name_leaves_a_leftover_the_next_save_removes",
        "a save of a 250-character name killed by SIGKILL",
        "the next save removes its leftover (found by the name's shortened stem); another name's is kept"),
    Row(SF + "test_load_model_refuses_a_fifo_at_once", "`load_model` or `read_idx` on a FIFO with no writer",
        "SpecialFileError at once (before: blocked forever in open)"),
    Row(SF + "test_readers_refuse_dev_zero_without_reading_it",
        "`load_model('/dev/zero')`, `read_idx('/dev/zero')`, in a child allowed 300 MB more",
        "SpecialFileError 'is a character device', nothing read (before: read until memory ran out)"),
    Row(SF + "test_readers_refuse_a_device_node_a_socket_and_a_folder",
        "`load_model` or `read_idx` on a socket, a folder, a missing file, a device node (as root)",
        "SpecialFileError, IsADirectoryError or FileNotFoundError naming the path and what was expected"),
    Row(SF + "test_a_file_that_grows_while_it_is_read_is_read_to_its_size_when_opened",
        "a file appended to while it is read", "read to the size it had when opened, never past it"),
    Row(SF + "test_a_data_folder_with_a_fifo_for_a_file_names_it", "a data folder whose labels file is a FIFO",
        "SpecialFileError naming it, at once (before: 'missing IDX file')"),
    Row(MB + "test_load_model_memory_is_bounded_by_what_the_file_holds",
        "a 10 KB model file asking 12,000 or 1,000,000 units, under RLIMIT_AS +200 MB",
        "ValueError; under 2 MB traced (before: MemoryError)"),
    Row(MB + "test_idx_reader_never_decompresses_more_than_the_header_announces",
        "a 2.1 MB gzip bomb (2.1 GB unpacked) as an IDX file, under RLIMIT_AS +200 MB",
        "ValueError: longer than its header says, not decompressed further; under 4 MB traced (before: MemoryError)"),
    # -- IDX files -----------------------------------------------------------------------------
    Row(IX + "test_truncated_data_names_file_and_sizes", "data 10 bytes short", "ValueError with both sizes"),
    Row(IX + "test_truncated_header", "a header cut short, a 2-byte file", "ValueError with the sizes"),
    Row(IX + "test_extra_bytes_after_data", "one byte after the data", "ValueError: longer than its header says"),
    Row(IX + "test_wrong_magic", "a zip, a bad type code, a non-zero first byte, 0 dimensions",
        "ValueError: not an IDX file, with the magic found"),
    Row(IX + "test_labels_where_images_expected_and_vice_versa", "labels where images are expected, and floats",
        "ValueError naming both kinds"),
    Row(IX + "test_corrupt_gzip", "20 corrupted gzip bytes", "ValueError: gzip data is corrupt"),
    Row(IX + "test_truncated_gzip", "gzip cut 40 bytes short", "ValueError: gzip data is truncated"),
    Row(IX + "test_file_object_name_in_errors", "a text-mode file, a number, a bad `expect`",
        "TypeError/ValueError naming the file object"),
    Row(IX + "test_write_rejects_unsupported_arrays", "writing int64, bool, 0-d or a list", "TypeError/ValueError; nothing written"),
    Row(IX + "test_failed_write_leaves_old_file_and_no_temp", "a write failing at the rename", "the old file intact"),
    Row(IX + "test_gzip_is_not_decompressed_past_the_announced_data", "garbage after the announced data in a gzip",
        "ValueError: longer than its header says, not decompressed further"),
    Row(IX + "test_header_announcing_more_than_a_gzip_file_can_hold", "a 60,000-image header in a tiny gzip",
        "ValueError before any data is read"),
    Row(IX + "test_raw_file_size_is_checked_before_reading", "a raw header announcing 2 GiB over 10 bytes",
        "ValueError: truncated, from the file size"),
    # -- data ----------------------------------------------------------------------------------
    Row(DS + "test_subset_and_path_together_is_an_error", "`load_data(subset=True, path=...)`", "ValueError"),
    Row(DS + "test_folder_missing_file_names_it", "a folder missing one IDX file, or no folder",
        "ValueError naming the missing file"),
    Row(DS + "test_folder_with_swapped_files", "images saved under the labels' name", "ValueError: expected labels"),
    Row(DS + "test_folder_structure_checks", "6 labels for 7 images, a label 10, 27x28 images",
        "ValueError naming the file and the numbers"),
    Row(DS + "test_to_vectors_rejects_bad_input", "floats, int64, 28x27, 1-D, empty, a list to `to_vectors`",
        "TypeError/ValueError saying what was expected"),
    Row(DS + "test_noise_rejects_bad_input", "negative, NaN, inf or bool noise factors; NaN, uint8 or 0-255 images",
        "TypeError/ValueError naming the argument"),
    Row(DS + "test_load_unknown_name_lists_the_accepted_ones", "`load('mnsit')`, `load(5)`",
        "ValueError listing the names; TypeError"),
    # -- downloads and cache ---------------------------------------------------------------------
    Row(DL + "test_wrong_hash_is_rejected_and_nothing_cached", "a mirror serving other bytes",
        "DownloadError: SHA-256 mismatch; nothing cached"),
    Row(DL + "test_truncated_transfer_is_rejected_and_nothing_cached", "a transfer cut in half",
        "DownloadError: transfer cut short; nothing cached"),
    Row(DL + "test_all_mirrors_dead_gives_one_clear_error", "every mirror refused, 404 or 503",
        "one DownloadError listing each mirror and the offline alternatives"),
    Row(DL + "test_failing_first_mirror_falls_through_to_the_next",
        "a first mirror refused, 404, 503, serving other bytes or cut short", "the next mirror serves the file"),
    Row(DL + "test_corrupted_cached_file_is_detected_and_fetched_again", "a cached file flipped, truncated or emptied",
        "moved aside (named on stderr) and only that file fetched again"),
    Row(DL + "test_timeout_must_be_positive", "timeout 0, -1, NaN, inf, True or '3'",
        "ValueError: timeout must be a positive number"),
    Row(DL + "test_slow_mirror_times_out_quickly", "a mirror that accepts the connection and never answers",
        "DownloadError: timed out (each connect and read has the timeout)"),
    Row(DL + "test_a_cached_file_that_fails_its_hash_is_moved_aside_never_deleted",
        "the user's own copy in the cache, offline",
        "moved aside to <name>.mismatch-<hash>, said on stderr, never deleted (before: deleted)"),
    Row(DL + "test_a_cache_folder_that_cannot_be_created_is_a_local_error_not_a_mirror_failure",
        "a file where the cache folder should be", "CacheError naming the folder and $SCRATCHAE_HOME; no mirror tried "
        "(before: 'could not download from any mirror')"),
    Row(DL + "test_a_cache_file_that_cannot_be_written_is_a_local_error", "a folder where a cached file should be",
        "CacheError: cannot write ... into the data cache"),
    Row(DL + "test_an_unwritable_cache_folder_is_a_local_error",
        "a read-only cache folder (as root: in a forked child dropped to nobody)",
        "CacheError: cannot write ... into the data cache: Permission denied (before: skipped as root)"),
    Row(DL + "test_auto_says_when_the_cache_is_the_problem", "`load('auto')` with an unusable cache",
        "the bundled subset, saying 'full MNIST could not be cached: ...'"),
    Row(DL + "test_failed_download_after_partial_success_leaves_no_temp_files", "the third file unobtainable",
        "the good files kept, no partial file"),
    Row(DL + "test_auto_falls_back_to_subset_quickly_when_offline", "`load('auto')` offline",
        "the bundled subset, saying why"),
    Row(DL + "test_explicit_mnist_does_not_fall_back", "`load('mnist')` offline", "DownloadError with the offline alternatives"),
    Row(DL + "test_system_folder_rescues_a_corrupt_cache_when_offline", "a corrupt cache, offline, a system copy present",
        "the system copy is used"),
    Row(DL + "test_a_dripping_mirror_is_given_up_at_its_deadline_and_the_next_one_serves",
        "a mirror that sends one byte every 2 s (of an injected clock), within the read timeout",
        "given up when its time for the file (timeout + size / 50 kB/s) has passed: 'too slow: 10 of 9447 bytes "
        "in 22 s'; the next mirror serves the file (before: the download never ended)"),
    Row(DL + "test_auto_falls_back_within_its_deadline_when_the_mirrors_drip", "`load('auto')` when every mirror drips",
        "the bundled subset once the whole load's AUTO_DEADLINE (30 s) has passed, the mirrors left 'not tried' "
        "(before: `--dataset auto` hung)"),
    Row(DL + "test_a_mirror_that_streams_without_end_is_stopped_at_the_files_size",
        "a mirror that streams without end (no Content-Length)",
        "stopped one byte past the file's known size: DownloadError 'sent more than the N bytes of ...: the mirror "
        "serves another file', not a CacheError; nothing cached; the next mirror serves (before: the disk filled, "
        "then the cache was blamed)"),
    Row(DL + "test_a_mirror_announcing_another_size_is_given_up_before_its_body", "a mirror announcing a terabyte",
        "given up before its body: 'announces ... bytes, but ... has N'"),
    Row(DL + "test_a_user_sets_the_mirrors_with_an_environment_variable_or_an_argument",
        "the user's own mirrors: `$SCRATCHAE_MNIST_MIRRORS` (spaces or commas), `mirrors=`, "
        "`$SCRATCHAE_FASHION_MNIST_MIRRORS`", "used (the argument first), never the module's MIRRORS "
        "(before: module constants only)"),
    Row(DL + "test_deadline_must_be_positive", "deadline 0, -1, NaN, inf, True or '30'",
        "ValueError: deadline must be a positive number"),
    # -- command line ----------------------------------------------------------------------------
    Row(CL + "test_missing_data_and_bad_out_through_the_real_command", "an empty data folder; --out naming a file",
        "one line, exit 2"),
    Row(CL + "test_an_unwritable_output_folder_is_found_before_training", "`--out` a folder it cannot write",
        "one line 'cannot write into output folder', exit 2, before training (before: traceback after training)"),
    Row(CL + "test_an_output_file_name_taken_by_a_folder_is_found_before_training", "`--out` holding a folder shallow.npz",
        "one line, exit 2, before training"),
    Row(CL + "test_a_diverging_run_is_one_line", "`train sparse --l1 1e30`",
        "one line 'training diverged ... nothing saved; a smaller --l1 may help', exit 2 (before: traceback)"),
    Row(CL + "test_a_run_that_diverges_later_keeps_its_completed_epochs", "a divergence in epoch 2",
        "one line, exit 2; the completed epoch saved (model and history with 'diverged')"),
    Row(CL + "test_ctrl_c_exits_130_and_keeps_completed_epochs", "Ctrl-C during a long run",
        "exit 130; the saved model holds exactly the completed epochs the message and the history name"),
    Row(CL + "test_a_second_ctrl_c_during_the_rescue_save_waits_for_it",
        "a second Ctrl-C during the rescue save (the save waits until it is sent)",
        "the save finishes; exit 130 (before: the save was broken off and every epoch lost)"),
    Row(CL + "test_two_quick_ctrl_c_keep_every_completed_epoch", "two Ctrl-C 3 ms apart (real signals)",
        "exit 130, no traceback, the completed epochs saved as said, wherever they land (no retries)"),
    Row(CL + "test_sigterm_while_the_figures_are_drawn_keeps_the_trained_model",
        "a real SIGTERM while `train` draws its figures",
        "exit 143; the trained model and its history were saved before the figures, and the message says so "
        "(before: killed, the model never saved)"),
    Row(CL + "test_ctrl_c_while_importing_prints_no_traceback", "Ctrl-C while the command imports NumPy",
        "'scratchae: interrupted', exit 130, no traceback"),
    Row(CL + "test_what_a_command_does_not_catch_is_still_one_line", "a divergence or MemoryError no command caught",
        "one line, exit 1 or 2"),
    # -- command line: stops and --out --------------------------------------------------------
    Row(CS + "test_sigterm_or_sighup_during_train_saves_the_completed_epochs",
        "a real SIGTERM or SIGHUP to `scratchae train` after an epoch (kill, timeout, docker stop; a closed SSH "
        "session)", "the batch finishes, the completed epochs saved and said, exit 143 or 129, the record says "
        "'stopped by SIGTERM', the lock removed (before: exit 143/129, an empty --out, no message)"),
    Row(CS + "test_sigterm_during_demo_saves_the_model_in_training_and_a_summary",
        "a real SIGTERM to `scratchae demo` after an epoch",
        "the model in training saved with its completed epochs, summary.json 'stopped by SIGTERM', exit 143"),
    Row(CS + "test_out_of_memory_in_epoch_2_of_train_keeps_epoch_1", "a MemoryError in epoch 2 of `train`",
        "epoch 1 saved (model, history with the error) and said; then the one-line out-of-memory error, exit 2 "
        "(before: the epoch lost)"),
    Row(CS + "test_out_of_memory_in_the_second_model_of_demo_keeps_the_first_and_the_completed_epoch",
        "a MemoryError in the second model of `demo`",
        "the first model kept, the second's completed epoch saved, summary.json says what was done, exit 2"),
    Row(CS + "test_a_second_run_into_a_busy_out_is_refused_and_a_killed_runs_lock_is_taken_over",
        "two real `train` runs into one --out; then the first SIGKILLed",
        "the second refused in one line naming the first's pid, start and command, nothing written; after the "
        "kill the next run takes the lock over with a note naming the dead run (before: a folder mixing both)"),
    Row(CS + "test_a_busy_out_is_refused_before_training", "--out held by another run",
        "one line 'in use by another scratchae run (pid ...)', exit 2, before training"),
    Row(CS + "test_what_a_run_wrote_is_told_apart_from_an_earlier_runs_files",
        "--out holding an earlier run's monitor figures",
        "kept; scratchae-run.json lists them as earlier_files and this run's files with size and SHA-256, a note "
        "says so, the page does not show them (before: mistaken for this run's)"),
    Row(CS + "test_an_output_that_is_another_output_is_refused", "--out holding a link shallow-loss.png -> shallow.npz",
        "one line 'are the same file (a link)', exit 2, nothing written"),
    Row(CS + "test_an_output_that_is_a_data_file_is_refused", "--out holding a link to the --dataset folder's images",
        "one line 'is the data file', exit 2; the data untouched; the data's own folder as --out works"),
    # -- the test suite ---------------------------------------------------------------------------
    Row(BL + "test_fit_remembers_the_choice_for_the_same_products",
        "the BLAS thread choice of fit, tested on a loaded machine",
        "timed by an injected clock: the counts chosen and remembered exact on any machine (before: real step "
        "times, 2 of 5 runs failed at load 7-18)"),
    Row(BL + "test_fit_with_the_timed_choice_trains_like_one_thread", "the timed choice inside fit, on a loaded machine",
        "every step timed on the injected clock, the steps per count exact; the losses those of one thread"),
    # -- grading ------------------------------------------------------------------------------------
    Row(GR + "test_a_signal_that_ends_the_grader_ends_the_submission",
        "SIGTERM or SIGHUP to `scratchae grade` while a submission loops forever",
        "exit 143 / 129; no process of the submission is left (its PID namespace ends with the grader), its "
        "temporary folder removed"),
    Row(GR + "test_an_escaped_process_holding_the_pipes_does_not_hold_the_grade",
        "a submission's double-forked setsid grandchild that keeps the grader's pipes open",
        "the grade ends within the time limit: the pipes are read against a deadline, and the grandchild dies "
        "with the run"),
    Row(GR + "test_a_late_rewrite_of_results_json_never_lands",
        "an escaped process that rewrites results.json 4 s after the grade",
        "it never lands: killed with the run, and the output folder hidden from it"),
    Row(GR + "test_a_classmate_killer_and_a_folder_deleter_leave_the_others_graded",
        "in a folder, a submission that kills every process it sees, and one that deletes its working folder",
        "every other submission graded as before (10 / 10), the table written"),
    Row(GR + "test_a_solution_read_through_the_packages_path_is_hidden",
        "a submission that reads tests/exercise_solutions through the package's path",
        "not found: the source checkout (and any --hide path) is hidden from it; 0 / 10 'not loaded'"),
    Row(GR + "test_a_submission_that_defeats_the_alarm_is_killed_at_the_time_limit",
        "a submission that ignores SIGALRM and sleeps", "killed at --timeout, status 'timeout'"),
    Row(GR + "test_a_forgery_in_the_submissions_interpreter_gains_nothing",
        "a submission that patches the checker or NumPy, or walks the stack to the result sender",
        "refused by the screen; past it, never more than its honest score; a second record voids the grade"),
    # -- owned elsewhere -------------------------------------------------------------------------
    Row("test_gradcheck_core.py::test_numerical_gradient_refuses_a_step_that_is_not_positive",
        "`numerical_gradient(..., h=0)` (and h < 0, NaN, inf)", "ValueError: the step h must be a finite number > 0"),
]


def _words(words: Iterable[str]) -> str:
    return ", ".join(f"'{w}'" for w in words)


def case_rows() -> list[Row]:
    """One row per case of the parametrized fault tests, from the lists they run over."""
    import test_cli_train as cli
    import test_download as dl
    import test_saving as sv
    import test_training_safety as ts

    mnist_variable = "SCRATCHAE_MNIST_MIRRORS"

    rows = [Row(TS + "test_bad_data_is_refused_with_a_clear_message_and_nothing_changes",
                f"x, y to `fit`, `train_on_batch`, `evaluate`: {desc}",
                f"{err.__name__} with {_words(words)}; weights and optimizer untouched")
            for desc, _, _, err, words in ts.BAD_DATA]
    rows += [Row(TS + "test_predict_validates", f"x to `predict`: {desc}", f"{err.__name__} with {_words(words)}")
             for desc, _, err, words in ts.BAD_PREDICT]
    rows += [Row(TS + "test_bad_fit_arguments",
                 "`fit(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")`",
                 f"{err.__name__} with '{word}'; nothing trained")
             for kwargs, err, word in ts.BAD_FIT_ARGUMENTS]
    rows += [Row(TS + "test_set_weights_refuses_what_it_cannot_store_exactly", f"`set_weights` with a kernel: {desc}",
                 f"{err.__name__} with {_words(words)}; no weight changed")
             for desc, _, err, words in ts.BAD_WEIGHTS]
    rows += [Row(SV + "test_bad_layer_descriptions", f"a model file whose first Dense has {desc}",
                 f"ValueError naming the file, with '{words}'")
             for desc, _, words in sv.BAD_LAYER_DESCRIPTIONS]
    rows += [Row(SV + "test_optimizer_state_of_the_wrong_kind_names_the_file", f"a model file with optimizer {desc}",
                 f"ValueError naming the file, with '{words}' (before: raw TypeErrors)")
             for desc, _, _, words in sv.BAD_OPTIMIZER_STATE]
    rows += [Row(SV + "test_an_incomplete_optimizer_state_names_the_file_and_the_entries", f"a model file with {desc}",
                 f"ValueError naming the file, with '{words}' (before: it loaded, and training resumed to other "
                 "weights)")
             for desc, _, words in sv.INCOMPLETE_OPTIMIZER_STATE]
    rows += [Row(SV + "test_a_damaged_generator_state_names_the_file_and_the_field",
                 f"a model file's shuffling generator state: {desc}",
                 f"ValueError naming the file and the field, with '{words}' (before: a raw OverflowError, "
                 "TypeError or AttributeError without the file's name, or it loaded)")
             for desc, _, _, words in sv.BAD_GENERATOR_STATE]
    rows += [Row(DL + "test_bad_mirrors_are_refused_naming_where_they_came_from",
                 f"`${mnist_variable}={value}`" if how == "env" else f"`mnist.load_data(mirrors={value!r})`",
                 f"{err.__name__} with '{words}'")
             for how, value, err, words in dl.BAD_MIRRORS]
    rows += [Row(TS + "test_malformed_validation_data_is_refused_before_the_first_step", f"`validation_data`: {desc}",
                 f"{err.__name__} with {_words(words)}, before the first step (before: (x, None) trained an epoch, "
                 "then a raw TypeError lost it)")
             for desc, _, err, words in ts.BAD_VALIDATION_DATA]
    rows += [Row(CL + "test_bad_arguments_one_line_exit_2", f"`scratchae {' '.join(argv)}`",
                 f"one line with '{fragment}', exit 2, nothing written")
             for argv, fragment in cli.BAD]
    return rows


def all_rows() -> list[Row]:
    order = list(AREAS) + list(SOME_ROWS) + list(OWNED_ELSEWHERE)
    rows = ROWS + case_rows()
    return sorted(rows, key=lambda r: order.index(r.test.split("::")[0]))   # stable: file order kept


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


INTRO = [
    "Every row is a bad input or a fault that a test in `tests/` tries, the error or behaviour it "
    "gets, and that test. Bad input gets a `ValueError` or `TypeError` saying what was expected and "
    "what came; the command line answers in one line, `scratchae: error: ...`.",

    "**The last good state.** Whatever stops `fit` (a NaN or infinite loss; weights, a loss or the "
    "optimizer state gone non-finite after an epoch's last update; Ctrl-C; an exception) puts the "
    "model back at the end of its last completed epoch, the start of the epoch that did not finish: "
    "its weights, its optimizer state (Adam's moments and step count) and its shuffling generator, "
    "as they were then. So `model.history`, the model and a file saved from it describe the same "
    "epochs, and resuming from that file continues, bit for bit (with a fixed number of BLAS "
    "threads: `SCRATCHAE_BLAS_THREADS=1`), as if the unfinished epoch had "
    "never started. That state is one checkpoint per epoch and the check of the epoch's last update "
    "one forward pass, under 1% of an epoch together. `train_on_batch` needs a checkpoint per call "
    "instead (about 25% of a batch-32 step on the article's vanilla model, 3% at batch 256): on a "
    "non-finite loss it goes back to before the previous call's update.",

    "**Memory.** A model file is checked against its arrays' headers before any layer is built, and "
    "an IDX file is never decompressed past what its header announces plus one byte: what a file "
    "costs is bounded by what it really holds (`tests/test_memory_bounds.py` measures it under a "
    "lowered RLIMIT_AS).",

    "**Files and downloads.** A write replaces only a regular file, or a symlink's final target (the "
    "link stays a link); a folder, a device, a FIFO or a socket at the path is refused, naming what is "
    "there, and the temporary name keeps within the folder's name limit. A read opens only a regular "
    "file, without blocking, and never reads past the size it had when opened. A download reads at "
    "most the file's known size plus one byte; each connect and each read has a timeout, each mirror "
    "`timeout + size / 50 kB/s` for a file, and `--dataset auto` falls back to the bundled subset within "
    "`AUTO_DEADLINE` (30 s) plus one read's timeout (3 s). Mirrors of one's own: "
    "`$SCRATCHAE_MNIST_MIRRORS` and `$SCRATCHAE_FASHION_MNIST_MIRRORS` (base URLs separated by spaces or "
    "commas), or `load_data(mirrors=[...])`.",

    "**Stopping.** SIGTERM (kill, timeout, docker stop, Slurm, systemd) and SIGHUP (a closed terminal or "
    "SSH session) stop `fit` as Ctrl-C does, where they have their default action (an ignored signal, "
    "as under nohup, or a program's own handler is left alone): the batch finishes, the model goes back "
    "to its last good state, and `fit` raises `Interrupted`, a KeyboardInterrupt naming the signal. "
    "`scratchae train` and `demo` then save the completed epochs, say so, and exit with 128 + the "
    "signal's number (130, 143, 129); a later signal waits for that save. Any other error that stops a "
    "run (out of memory, a full disk) keeps the completed epochs too. One `fit` at a time per model. A "
    "run owns its --out while it runs (`.scratchae-lock`, an flock naming its pid, host, start and "
    "command; the lock of a run killed outright is taken over with a note), and `scratchae-run.json` "
    "lists the files it wrote, apart from earlier runs' files, which are kept.",

    "**The suite and time.** No test depends on the machine's speed or load: a timing policy (the BLAS "
    "thread choice, a download's deadline) is driven by an injected clock, a test with a real process "
    "waits for what the process prints (never a sleep), and the only times are generous bounds that stop "
    "a process that hangs.",
]


def render() -> str:
    rows = all_rows()
    areas = {**AREAS, **SOME_ROWS, **OWNED_ELSEWHERE}
    lines = [
        "# Reliability: the faults a user meets, and what each one gets",
        "",
        "<!-- Generated by tests/test_reliability.py from its registry and the tests' case lists; "
        "edit those and run `python tests/test_reliability.py`. -->",
        "",
    ]
    for paragraph in INTRO:
        lines += [textwrap.fill(paragraph, width=92), ""]
    lines += [
        f"{len(rows)} rows.",
        "",
        "| # | Area | Bad input or fault | What happens | Test |",
        "|---|------|--------------------|--------------|------|",
    ]
    for i, row in enumerate(rows, 1):
        file, name = row.test.split("::")
        lines.append(f"| {i} | {areas[file]} | {_cell(row.fault)} | {_cell(row.outcome)} | "
                     f"`tests/{file}::{name}` |")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=None)
def defined_tests(file: str) -> frozenset[str]:
    tree = ast.parse((TESTS / file).read_text(encoding="utf-8"))
    return frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))


# -- the tests --------------------------------------------------------------------------------
def test_the_document_is_the_generated_table():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/reliability.md differs from the registry: run `python tests/test_reliability.py`")


def test_every_row_names_a_test_that_exists():
    missing = [r.test for r in all_rows() if r.test.split("::")[1] not in defined_tests(r.test.split("::")[0])]
    assert not missing, missing


def test_every_fault_test_is_in_the_table():
    listed = {tuple(r.test.split("::")) for r in all_rows()}
    for file in AREAS:
        defined = defined_tests(file)
        assert NOT_FAULTS[file] <= defined, ("NOT_FAULTS names tests that do not exist", NOT_FAULTS[file] - defined)
        unlisted = sorted(n for n in defined - NOT_FAULTS[file] if (file, n) not in listed)
        assert not unlisted, (f"{file}: fault tests missing from docs/reliability.md's registry", unlisted)
        both = sorted(n for n in NOT_FAULTS[file] if (file, n) in listed)
        assert not both, ("listed as a fault and as no fault", both)


def test_the_table_is_long_and_has_no_duplicate_rows():
    rows = all_rows()
    assert len(rows) >= 60
    assert len({(r.test, r.fault) for r in rows}) == len(rows)


def test_the_checks_can_fail(monkeypatch):
    """A row naming a test that does not exist, and a fault test left out, are both caught."""
    monkeypatch.setattr(sys.modules[__name__], "ROWS", ROWS + [Row(TS + "test_no_such_test", "x", "y")])
    try:
        test_every_row_names_a_test_that_exists()
    except AssertionError:
        pass
    else:
        raise AssertionError("a row naming a missing test was not caught")
    monkeypatch.setattr(sys.modules[__name__], "ROWS", [r for r in ROWS if "killed_save" not in r.test])
    try:
        test_every_fault_test_is_in_the_table()
    except AssertionError:
        pass
    else:
        raise AssertionError("an unlisted fault test was not caught")


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)} ({len(all_rows())} rows)")
