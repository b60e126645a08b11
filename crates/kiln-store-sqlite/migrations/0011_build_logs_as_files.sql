-- Build logs move out of the database into files beside it (logs/<uuid>.log), which the one
-- process using this store writes as its builds run. The pieces 0010 stored are moved into
-- those files when the store opens (logs.rs, move_database_pieces_to_files), which then drops
-- this table.
ALTER TABLE build_log_chunks RENAME TO build_log_pieces_to_move;
