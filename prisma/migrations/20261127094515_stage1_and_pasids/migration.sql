-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Device" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "smmuId" INTEGER NOT NULL,
    "streamId" INTEGER NOT NULL,
    "ats" BOOLEAN NOT NULL DEFAULT false,
    "pasidBits" INTEGER NOT NULL DEFAULT 0,
    "contextId" INTEGER,
    "attachedTo" INTEGER,
    "pasids" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Device_smmuId_fkey" FOREIGN KEY ("smmuId") REFERENCES "Smmu" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Device_contextId_fkey" FOREIGN KEY ("contextId") REFERENCES "Context" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Device" ("ats", "attachedTo", "contextId", "createdAt", "id", "name", "pasidBits", "smmuId", "streamId") SELECT "ats", "attachedTo", "contextId", "createdAt", "id", "name", "pasidBits", "smmuId", "streamId" FROM "Device";
DROP TABLE "Device";
ALTER TABLE "new_Device" RENAME TO "Device";
CREATE UNIQUE INDEX "Device_name_key" ON "Device"("name");
CREATE INDEX "Device_contextId_idx" ON "Device"("contextId");
CREATE UNIQUE INDEX "Device_smmuId_streamId_key" ON "Device"("smmuId", "streamId");
CREATE TABLE "new_IommufdObject" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "contextId" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "ioasId" INTEGER,
    "hwptId" INTEGER,
    "viommuId" INTEGER,
    "deviceId" INTEGER,
    "smmuId" INTEGER,
    "nestParent" BOOLEAN NOT NULL DEFAULT false,
    "dirtyTracking" BOOLEAN NOT NULL DEFAULT false,
    "auto" BOOLEAN NOT NULL DEFAULT false,
    "vste0" TEXT,
    "vste1" TEXT,
    "enableAts" BOOLEAN NOT NULL DEFAULT false,
    "viommuType" TEXT,
    "vmid" INTEGER,
    "stage" INTEGER,
    "asid" INTEGER,
    "pasidCompat" BOOLEAN NOT NULL DEFAULT false,
    "vintf" INTEGER,
    "virtId" BIGINT,
    "sidSlot" INTEGER,
    "eventqType" TEXT,
    "depth" INTEGER,
    "nextSequence" INTEGER,
    "nextOrd" BIGINT,
    "queueType" TEXT,
    "queueIndex" INTEGER,
    "queueIova" TEXT,
    "queueLength" INTEGER,
    "queueBase" TEXT,
    "prevQueueId" INTEGER,
    "qProd" INTEGER,
    "qCons" INTEGER,
    "qEnabled" BOOLEAN NOT NULL DEFAULT false,
    "qGerror" INTEGER,
    "qGerrorn" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "IommufdObject_contextId_fkey" FOREIGN KEY ("contextId") REFERENCES "Context" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_IommufdObject" ("auto", "contextId", "createdAt", "depth", "deviceId", "dirtyTracking", "enableAts", "eventqType", "hwptId", "id", "ioasId", "nestParent", "nextOrd", "nextSequence", "prevQueueId", "qCons", "qEnabled", "qGerror", "qGerrorn", "qProd", "queueBase", "queueIndex", "queueIova", "queueLength", "queueType", "sidSlot", "smmuId", "type", "vintf", "viommuId", "viommuType", "virtId", "vmid", "vste0", "vste1") SELECT "auto", "contextId", "createdAt", "depth", "deviceId", "dirtyTracking", "enableAts", "eventqType", "hwptId", "id", "ioasId", "nestParent", "nextOrd", "nextSequence", "prevQueueId", "qCons", "qEnabled", "qGerror", "qGerrorn", "qProd", "queueBase", "queueIndex", "queueIova", "queueLength", "queueType", "sidSlot", "smmuId", "type", "vintf", "viommuId", "viommuType", "virtId", "vmid", "vste0", "vste1" FROM "IommufdObject";
DROP TABLE "IommufdObject";
ALTER TABLE "new_IommufdObject" RENAME TO "IommufdObject";
CREATE INDEX "IommufdObject_contextId_idx" ON "IommufdObject"("contextId");
CREATE INDEX "IommufdObject_viommuId_idx" ON "IommufdObject"("viommuId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
-- Paging HWPTs created before this migration were all stage 2 (a VMID, no ASID).
UPDATE "IommufdObject" SET "stage" = 2, "asid" = 0 WHERE "type" = 'hwpt_paging' AND "stage" IS NULL;
