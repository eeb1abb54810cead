# Writes modeldata's small_fine_foods (training_data + testing_data) as one
# CSV with a split column, for builddata. Usage:
#   Rscript extract_fine_foods.R R_LIBRARY_DIR OUT.csv
args <- commandArgs(trailingOnly = TRUE)
e <- new.env()
lazyLoad(file.path(args[1], "modeldata", "data", "Rdata"), envir = e)
tr <- get("training_data", envir = e)
te <- get("testing_data", envir = e)
out <- rbind(
  data.frame(split = "train", product = tr$product, review = tr$review, score = as.character(tr$score)),
  data.frame(split = "test", product = te$product, review = te$review, score = as.character(te$score))
)
write.csv(out, args[2], row.names = FALSE, fileEncoding = "UTF-8")
