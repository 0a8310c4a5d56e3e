// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A data-availability sink for Anima's sealed life data on an EVM chain. It stores
/// nothing: the bytes live in the transaction (calldata) or its blobs (EIP-4844); the
/// event makes them findable by key from the chain alone, so a recovering node needs
/// no side index. The contract hashes calldata itself, so an event's partHash is always
/// the hash of the bytes in its transaction; readers still check every byte against the
/// content address (a node can lie about logs and transactions alike). Anyone may post.
contract LifeDataDA {
    /// One part of a calldata post: `key` is a chunk's content address or a manifest's
    /// name; the parts of one key are concatenated in `part` order.
    event Posted(bytes32 indexed key, address indexed poster, uint32 part, uint32 parts, bytes32 partHash);

    /// One part of a blob post: the transaction's blobs carry `length` bytes, in order.
    event BlobsPosted(
        bytes32 indexed key, address indexed poster, uint32 part, uint32 parts, uint32 length, bytes32[] versionedHashes
    );

    error NoBlobs();
    error BadPart(uint32 part, uint32 parts);

    function post(bytes32 key, uint32 part, uint32 parts, bytes calldata data) external {
        if (part >= parts) revert BadPart(part, parts);
        emit Posted(key, msg.sender, part, parts, sha256(data));
    }

    function postBlobs(bytes32 key, uint32 part, uint32 parts, uint32 length) external {
        if (part >= parts) revert BadPart(part, parts);
        uint256 count = 0;
        while (blobhash(count) != bytes32(0)) count++;
        if (count == 0) revert NoBlobs();
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; i++) hashes[i] = blobhash(i);
        emit BlobsPosted(key, msg.sender, part, parts, length, hashes);
    }
}
