"""Writing what a run makes (SPEC 5 and 9): the atomic writer of one set of files, the CSV formula
guard, the workbook, the lists options and the summary as plain data."""
