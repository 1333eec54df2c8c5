DROP TABLE count_folds;
