package migrate

// APIPrivileges is apiPrivileges, for the external tests.
var APIPrivileges = apiPrivileges
