-- CreateTable
CREATE TABLE "Meta" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Smmu" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "idr0" INTEGER NOT NULL,
    "idr1" INTEGER NOT NULL,
    "idr2" INTEGER NOT NULL,
    "idr3" INTEGER NOT NULL,
    "idr4" INTEGER NOT NULL,
    "idr5" INTEGER NOT NULL,
    "iidr" INTEGER NOT NULL,
    "aidr" INTEGER NOT NULL,
    "iotlbSize" INTEGER NOT NULL,
    "cmdqvVersion" INTEGER,
    "cmdqvVintfs" INTEGER,
    "cmdqvVcmdqsPerVintf" INTEGER,
    "cmdqvSidsPerVintf" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Device" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "smmuId" INTEGER NOT NULL,
    "streamId" INTEGER NOT NULL,
    "ats" BOOLEAN NOT NULL DEFAULT false,
    "pasidBits" INTEGER NOT NULL DEFAULT 0,
    "contextId" INTEGER,
    "attachedTo" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Device_smmuId_fkey" FOREIGN KEY ("smmuId") REFERENCES "Smmu" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Device_contextId_fkey" FOREIGN KEY ("contextId") REFERENCES "Context" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Context" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "IommufdObject" (
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
    "vintf" INTEGER,
    "virtId" BIGINT,
    "sidSlot" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "IommufdObject_contextId_fkey" FOREIGN KEY ("contextId") REFERENCES "Context" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "IoasMapping" (
    "ioasId" INTEGER NOT NULL,
    "iova" TEXT NOT NULL,
    "length" TEXT NOT NULL,
    "hostAddress" TEXT NOT NULL,
    "readable" BOOLEAN NOT NULL,
    "writable" BOOLEAN NOT NULL,

    PRIMARY KEY ("ioasId", "iova"),
    CONSTRAINT "IoasMapping_ioasId_fkey" FOREIGN KEY ("ioasId") REFERENCES "IommufdObject" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Smmu_name_key" ON "Smmu"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Device_name_key" ON "Device"("name");

-- CreateIndex
CREATE INDEX "Device_contextId_idx" ON "Device"("contextId");

-- CreateIndex
CREATE UNIQUE INDEX "Device_smmuId_streamId_key" ON "Device"("smmuId", "streamId");

-- CreateIndex
CREATE INDEX "IommufdObject_contextId_idx" ON "IommufdObject"("contextId");

-- CreateIndex
CREATE INDEX "IommufdObject_viommuId_idx" ON "IommufdObject"("viommuId");
