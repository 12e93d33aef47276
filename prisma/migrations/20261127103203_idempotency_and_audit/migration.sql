-- CreateTable
CREATE TABLE "IdempotencyKey" (
    "caller" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "body" TEXT,
    "contentType" TEXT,
    "createdAt" TEXT NOT NULL,
    "expiresAt" TEXT NOT NULL,

    PRIMARY KEY ("caller", "key")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "seq" BIGINT NOT NULL PRIMARY KEY,
    "at" TEXT NOT NULL,
    "requestId" TEXT,
    "actor" TEXT NOT NULL,
    "method" TEXT,
    "route" TEXT NOT NULL,
    "path" TEXT,
    "operation" TEXT,
    "contextIds" TEXT NOT NULL DEFAULT '',
    "created" TEXT NOT NULL DEFAULT '',
    "changed" TEXT NOT NULL DEFAULT '',
    "destroyed" TEXT NOT NULL DEFAULT ''
);
