-- AlterTable
ALTER TABLE "IommufdObject" ADD COLUMN "depth" INTEGER;
ALTER TABLE "IommufdObject" ADD COLUMN "eventqType" TEXT;
ALTER TABLE "IommufdObject" ADD COLUMN "nextOrd" BIGINT;
ALTER TABLE "IommufdObject" ADD COLUMN "nextSequence" INTEGER;

-- CreateTable
CREATE TABLE "GuestPage" (
    "page" TEXT NOT NULL PRIMARY KEY,
    "data" BLOB NOT NULL
);

-- CreateTable
CREATE TABLE "EventRecord" (
    "eventqId" INTEGER NOT NULL,
    "ord" BIGINT NOT NULL,
    "sequence" INTEGER NOT NULL,
    "flags" INTEGER NOT NULL,
    "payload" TEXT NOT NULL,

    PRIMARY KEY ("eventqId", "ord"),
    CONSTRAINT "EventRecord_eventqId_fkey" FOREIGN KEY ("eventqId") REFERENCES "IommufdObject" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
