# localgene's warm Rscript for CNVkit's CBS script (localgene/cnvkit/cbs_warm.py).
#
# Started as `Rscript --no-restore --no-environ cbs_worker.R`, the command and flags with
# which `cnvkit.py segment -m cbs` runs its script once per chromosome arm. It loads DNAcopy
# once, then reads requests on stdin, one per line: the hex-encoded paths of the stdout and
# stderr files, of the script, and the script's arguments, separated by spaces. Each script
# runs in a forked copy of this process (parallel::mcparallel), so it starts from the state
# a fresh Rscript would have after `library(DNAcopy)`: an empty global environment, the
# script evaluated there expression by expression with visible values printed (as Rscript
# does), commandArgs(trailingOnly = TRUE) giving its arguments, quit()/q() ending it with
# their status, an error ending it with status 1 and the message on its stderr. For each
# request one line is written on stdout: "LOCALGENE-CBS <status>" (-1: the child died).
# End of input ends the worker.

suppressPackageStartupMessages(library(DNAcopy))

local({
    unhex <- function(h) {
        if (!nzchar(h)) return("")
        rawToChar(as.raw(strtoi(substring(h, seq(1, nchar(h), 2), seq(2, nchar(h), 2)), 16L)))
    }

    run_script <- function(out_path, err_path, script, args) {
        out <- file(out_path, open = "w")
        err <- file(err_path, open = "w")
        sink(out)
        sink(err, type = "message")
        full_args <- c(file.path(R.home("bin"), "exec", "R"), "--no-echo", "--no-restore", "--no-environ",
                       paste0("--file=", script), "--args", args)
        ended <- function(status) structure(class = c("localgene_quit", "condition"),
                                            list(message = "quit", call = NULL, status = status))
        assign("commandArgs", function(trailingOnly = FALSE) if (trailingOnly) args else full_args,
               envir = globalenv())
        quit_here <- function(save = "default", status = 0, runLast = TRUE) stop(ended(status))
        assign("quit", quit_here, envir = globalenv())
        assign("q", quit_here, envir = globalenv())
        status <- tryCatch({
            source(script, local = globalenv(), echo = FALSE, print.eval = TRUE)
            0L
        }, localgene_quit = function(c) as.integer(c$status),
        error = function(e) {
            call <- conditionCall(e)
            message(if (is.null(call)) "Error: " else paste0("Error in ", deparse(call)[1], " : "),
                    conditionMessage(e))
            message("Execution halted")
            1L
        })
        sink(type = "message")
        sink()
        close(out)
        close(err)
        status
    }

    requests <- file("stdin", open = "r")
    repeat {
        line <- readLines(requests, n = 1)
        if (length(line) == 0) break
        fields <- vapply(strsplit(line, " ", fixed = TRUE)[[1]], unhex, "", USE.NAMES = FALSE)
        job <- parallel::mcparallel(run_script(fields[1], fields[2], fields[3], fields[-(1:3)]), silent = TRUE)
        status <- parallel::mccollect(job)[[1]]
        if (!is.integer(status) || length(status) != 1) status <- -1L
        cat("LOCALGENE-CBS ", status, "\n", sep = "")
        flush(stdout())
    }
})
