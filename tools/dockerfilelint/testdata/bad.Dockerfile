FROM scratch as base
CMD echo hi
